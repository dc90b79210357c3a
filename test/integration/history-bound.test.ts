import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities/index.ts';
import { MAX_HISTORY_EVENTS } from '../../src/workflows/entity.ts';
import { dependencyChangedSignal, specSignal, stateQuery } from '../../src/workflows/messages.ts';
import { specMessage } from '../helpers/specs.ts';
import { localWorkflowEnvironment, workflowWorker } from '../helpers/workflow-env.ts';
import { resourceWorkflowStart } from '../../src/temporal/start.ts';
import { InferenceCacheWorkflow } from '../../src/workflows/index.ts';

/** One wake-up adds a signal, a timer, workflow tasks and an activity: the bound is the threshold plus one wake-up. */
const HISTORY_BOUND = MAX_HISTORY_EVENTS + 20;
/**
 * The dev server fires timers with about one-second resolution, so thousands of poll-timer ticks would take
 * an hour; each dependencyChanged signal wakes the loop and runs a reconcile step the same way a tick does.
 * One wake-up costs about 150 ms on two cores, so this test takes about five minutes.
 */
const WAKEUPS = 2000;

describe('a resource workflow that lives for months keeps its history bounded', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await localWorkflowEnvironment();
  });
  after(async () => env?.teardown());

  it(`wakes ${WAKEUPS} times with every run's history under ${HISTORY_BOUND} events`, async () => {
    // Small fakes stand in for Kubernetes: this test is about the workflow's own history.
    const activities: Partial<Activities> = {
      findServicesForModel: async () => ['svc'],
      findCacheReplicas: async () => [],
      scrapeCacheMetrics: async () => [],
      readCacheTick: async () => ({ services: ['svc'], samples: [] }),
      writeStatus: async () => true,
      releaseFinalizer: async () => undefined,
    };
    const worker = await workflowWorker(env, 'history-bound', activities);
    const handle = await env.client.workflow.start(InferenceCacheWorkflow, {
      ...resourceWorkflowStart({
        kind: 'InferenceCache',
        namespace: 'default',
        name: 'long-lived',
        taskQueue: 'history-bound',
        pollIntervalMs: 1000,
      }),
    });
    await handle.signal(specSignal, specMessage('InferenceCache', { modelName: 'm' }, 1));
    const runs = new Set<string>();
    let longest = 0;
    let wakeups = 0;
    let ticks = 0;
    const started = Date.now();
    await worker.runUntil(async () => {
      const latest = env.client.workflow.getHandle(handle.workflowId);
      const deadline = Date.now() + 540_000;
      while (wakeups < WAKEUPS && Date.now() < deadline) {
        // One signal at a time, waiting for its wake-up, so signals never coalesce or pile up in history.
        const before = wakeups;
        await latest.signal(dependencyChangedSignal, { kind: 'InferenceService', name: 'svc' });
        for (let i = 0; i < 400 && wakeups === before; i++) {
          const state = await latest.query(stateQuery);
          wakeups = state.wakeups;
          ticks = state.ticks;
        }
        if (wakeups % 100 < 2) {
          const description = await latest.describe();
          runs.add(description.runId);
          longest = Math.max(longest, description.historyLength);
        }
      }
      const description = await latest.describe();
      runs.add(description.runId);
      longest = Math.max(longest, description.historyLength);
      await latest.terminate('test done');
    });
    console.log(
      `# ${wakeups} wake-ups (${ticks} timer ticks) in ${((Date.now() - started) / 1000).toFixed(0)}s over ${runs.size} runs; longest history seen ${longest} events (bound ${HISTORY_BOUND})`,
    );
    assert.ok(wakeups >= WAKEUPS, `only ${wakeups} wake-ups`);
    assert.ok(runs.size >= 3, `expected several continue-as-new runs, saw ${runs.size}`);
    assert.ok(longest <= HISTORY_BOUND, `history reached ${longest} events`);
  });

  it('ticks on one poll timer that wake-ups between ticks neither cancel nor restart', async () => {
    let reads = 0;
    const activities: Partial<Activities> = {
      findServicesForModel: async () => ['svc'],
      readCacheTick: async () => {
        reads++;
        return { services: ['svc'], samples: [] };
      },
      writeStatus: async () => true,
      releaseFinalizer: async () => undefined,
    };
    const worker = await workflowWorker(env, 'poll-timer', activities);
    // No pollIntervalMs: the workflow starts at the default 30 s, and the spec's 1 s replaces it before any
    // timer runs (a timer of the default, started first, would still be pending at the end).
    const handle = await env.client.workflow.start(InferenceCacheWorkflow, {
      ...resourceWorkflowStart({
        kind: 'InferenceCache',
        namespace: 'default',
        name: 'ticking',
        taskQueue: 'poll-timer',
      }),
    });
    await handle.signal(specSignal, specMessage('InferenceCache', { modelName: 'm', pollInterval: '1s' }, 1));
    await worker.runUntil(async () => {
      for (let i = 0; i < 300 && reads < 4; i++) {
        // Wake-ups between the ticks: each reconciles, none may touch the timer.
        if (i % 5 === 0)
          await handle.signal(dependencyChangedSignal, { kind: 'InferenceService', name: 'svc' });
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.terminate('test done');
    });
    const events = (await handle.fetchHistory()).events ?? [];
    const count = (has: (e: (typeof events)[number]) => unknown) => events.filter((e) => has(e)).length;
    const started = count((e) => e.timerStartedEventAttributes);
    const fired = count((e) => e.timerFiredEventAttributes);
    const signals = count((e) => e.workflowExecutionSignaledEventAttributes);
    assert.ok(reads >= 4, `${reads} ticks`);
    assert.ok(signals >= 4, `${signals} signals woke it between the ticks`);
    assert.equal(
      count((e) => e.timerCanceledEventAttributes),
      0,
      'no timer cancelled',
    );
    assert.ok(fired >= 4 && started - fired <= 1, `${started} timers started, ${fired} fired: one at a time`);
  });
});
