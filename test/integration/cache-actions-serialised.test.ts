import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities/index.ts';
import type { CacheReplica } from '../../src/activities/vllm/cache-actions.ts';
import { forceEvictUpdate, specSignal, stateQuery } from '../../src/workflows/messages.ts';
import { specMessage } from '../helpers/specs.ts';
import { cacheReadFakes, localWorkflowEnvironment, workflowWorker } from '../helpers/workflow-env.ts';
import { resourceWorkflowStart } from '../../src/temporal/start.ts';
import { InferenceCacheWorkflow } from '../../src/workflows/index.ts';

const REPLICAS: CacheReplica[] = [
  { name: 'r0', url: 'http://127.0.0.1:1', engine: 'simulator' },
  { name: 'r1', url: 'http://127.0.0.1:2', engine: 'simulator' },
];

/** r0 is always full, r1 nearly empty. */
const samples = () =>
  REPLICAS.map((r, i) => ({ ...r, ok: true, kvUsage: i === 0 ? 0.99 : 0.1, hits: 0, queries: 0 }));

describe('cache actions never interleave', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await localWorkflowEnvironment();
  });
  after(async () => env?.teardown());

  it('a forceEvict sent while the automatic eviction runs waits for it, then runs', async () => {
    // Fakes stand in for the replicas: r0 is always full, so an automatic eviction is due on the first poll.
    let inFlight = 0;
    let mostInFlight = 0;
    const evictions: string[] = [];
    let automaticStarted: () => void = () => undefined;
    const automaticRunning = new Promise<void>((resolve) => (automaticStarted = resolve));
    const activities: Partial<Activities> = {
      ...cacheReadFakes(REPLICAS, samples),
      evictCache: async (input: { replica: CacheReplica; reason: string }) => {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        if (!input.reason.startsWith('forced')) automaticStarted();
        await new Promise((r) => setTimeout(r, 1500));
        evictions.push(
          `${input.replica.name}: ${input.reason.startsWith('forced') ? 'forced' : 'automatic'}`,
        );
        inFlight--;
        return { method: 'reset_prefix_cache' } as never;
      },
    };
    const worker = await workflowWorker(env, 'cache-lock', activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(InferenceCacheWorkflow, {
        ...resourceWorkflowStart({
          kind: 'InferenceCache',
          namespace: 'default',
          name: 'locked',
          taskQueue: 'cache-lock',
          pollIntervalMs: 1000,
        }),
      });
      await handle.signal(
        specSignal,
        specMessage(
          'InferenceCache',
          {
            modelName: 'm',
            kvCacheTransferPolicy: {
              thresholdHitRate: 0,
              evictionThreshold: 0.5,
              sustainedPolls: 1,
              cooldown: '1h',
            },
          },
          1,
        ),
      );
      await automaticRunning;
      const forced = await handle.executeUpdate(forceEvictUpdate, {
        args: [{ replica: 'r1', reason: 'test' }],
      });
      assert.equal(forced.target, 'r1');
      const state = await handle.query(stateQuery);
      await handle.terminate('test done');
      assert.equal(mostInFlight, 1, 'never two evictions at once');
      assert.deepEqual(
        evictions,
        ['r0: automatic', 'r1: forced'],
        'the forced one ran after the automatic one',
      );
      assert.equal(state.details.evictions, 2);
    });
  });
});
