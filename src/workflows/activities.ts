import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { durableSteps } from './durable.ts';

/**
 * Short steps: reads, renders, applies and status writes, each done in seconds. The timeout is also how long a
 * step whose worker died waits before another worker retries it, so it is kept short. A few quick attempts ride
 * out a blip; past them the workflow waits the fault out itself (see durable.ts), with the wait in its status.
 */
const SHORT = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '4 seconds',
    backoffCoefficient: 2,
    maximumAttempts: 4,
  },
} as const;
export const steps = durableSteps(proxyActivities<Activities>(SHORT));

/**
 * A tick's reads (the worker's informer caches, the replicas' /metrics) as local activities: run by the worker
 * inside the workflow task that asks for them, so a poll that changes nothing is one workflow task and no
 * activity task to schedule, poll and complete (issue 16). Each read is a `MarkerRecorded` event with its result
 * in the history (the Temporal UI shows it as a local activity; `infctl history` lists it). Same retries and
 * waits as the short steps.
 */
const localReads = durableSteps(proxyLocalActivities<Activities>(SHORT));

/**
 * The proxy for a tick's reads: local activities, or in histories from before that change, activities.
 *
 * `later` names the patches the caller may first reach after the read, announced here, before it. Why: the code
 * after a local read runs, when first executed, in the next workflow task (the read's marker closes the task
 * that asked for it), but on replay the SDK resolves the read while still replaying that first task, before the
 * next task's patch markers are known; a patch first reached after the read is then `false` on replay where it
 * was `true` when recorded, and the replay fails (TMPRL1100). Announced before the read, its marker lands in the
 * same task as the read's and replays the same. For the same reason a tick takes its time (`Date.now()`) before
 * its read, not after.
 */
export function tickReads(...later: string[]): typeof steps {
  return readsUnder('tick-reads-local', later);
}

export const RECONCILE_READS_PATCH = 'reconcile-reads-local';

/**
 * The proxy for a reconcile's reads (a service's inputs and plan, the endpoints after its rollout, a cache's
 * services): local activities as for a tick, behind a patch of their own; `later` as for {@link tickReads}.
 * During convergence these were a third of the activity tasks and workflow tasks (issue 16).
 */
export function reconcileReads(...later: string[]): typeof steps {
  return readsUnder(RECONCILE_READS_PATCH, later);
}

function readsUnder(patch: string, later: string[]): typeof steps {
  if (!patched(patch)) return steps;
  for (const p of later) patched(p);
  return localReads;
}

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
