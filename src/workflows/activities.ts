import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { durableSteps } from './durable.ts';

/**
 * Short steps: reads, renders, applies and status writes, each done in seconds. The timeout is also how long a
 * step whose worker died waits before another worker retries it, so it is kept short. A few quick attempts ride
 * out a blip; past them the workflow waits the fault out itself (see durable.ts), with the wait in its status.
 */
export const steps = durableSteps(
  proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '4 seconds',
      backoffCoefficient: 2,
      maximumAttempts: 4,
    },
  }),
);

/**
 * One attempt and no wait: telling the resource's status that a step waits. When the API server itself is down
 * this fails at once and the wait shows in the workflow's phase and history instead.
 */
export const oneAttempt = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/** Waiting for a rollout: long, heartbeating, cancellable; waited out like the short steps. */
export function rolloutSteps(timeoutMs: number) {
  return durableSteps(
    proxyActivities<Activities>({
      startToCloseTimeout: timeoutMs + 120_000,
      heartbeatTimeout: '30 seconds',
      retry: { initialInterval: '1 second', maximumInterval: '4 seconds', maximumAttempts: 3 },
    }),
  );
}

/**
 * Cache actions (evict, transfer): a few attempts, then the loop reports the failure and decides again later.
 * They heartbeat, so an action whose worker died is retried within seconds, not at the end of the timeout.
 */
export const cacheActions = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '15 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumAttempts: 3,
  },
});
