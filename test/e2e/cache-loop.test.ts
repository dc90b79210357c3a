import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import {
  releaseDevEnvironment,
  startSimulator,
  useDevEnvironment,
  type Simulator,
} from '../helpers/components.ts';
import { infctlFor, startWorker, temporalFor, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import {
  applyCacheFixture,
  startCacheWorkflow,
  steadyLoad,
  stopCacheWorkflow,
  type CacheFixture,
} from '../helpers/cache.ts';
import { kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-cache-${process.pid}`;
const MODEL = 'llama3-70b';
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let worker: EngineProcess | undefined;
let metricsAddress = '';
const sims: Simulator[] = [];

interface CacheStatus {
  evictions?: number;
  poolHitRate?: number;
  maxKvUsage?: number;
  replicas?: { name: string; kvUsage?: number }[];
  lastAction?: { action: string; target: string; reason: string; manual: boolean };
}
const cacheStatus = (): CacheStatus => {
  const r = kubectl(['get', 'inferencecache', 'chat-cache', '-n', NS, '-o', 'json']);
  return r.code === 0 ? ((JSON.parse(r.stdout) as { status?: CacheStatus }).status ?? {}) : {};
};
const kvUsage = async (sim: Simulator) =>
  metricSum(parseExposition(await (await fetch(`${sim.url}/metrics`)).text()), 'vllm:kv_cache_usage_perc') ??
  0;

const fixture = (): CacheFixture => ({
  namespace: NS,
  model: MODEL,
  cacheSpec: {
    modelName: MODEL,
    kvCacheTransferPolicy: {
      thresholdHitRate: 0.1,
      evictionThreshold: 0.5,
      sustainedPolls: 2,
      cooldown: '20s',
    },
    pollInterval: '1s',
    window: '30s',
  },
  endpoints: sims.map((s, i) => ({ name: `chat-svc-${i}`, url: s.url })),
});

describe('the InferenceCache observe-and-act loop against simulators', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    // 64 blocks of 16 tokens: two 400-token prompts in flight hold most of it.
    for (let i = 0; i < 2; i++)
      sims.push(
        await startSimulator({
          model: MODEL,
          args: [
            '--enable-kvcache',
            '--block-size',
            '16',
            '--kv-cache-size',
            '64',
            '--enable-sleep-mode',
            '--inter-token-latency',
            '30ms',
          ],
          env: { VLLM_SERVER_DEV_MODE: '1' },
        }),
      );
    applyCacheFixture(kubectl, fixture());
    metricsAddress = `127.0.0.1:${await freePort()}`;
    worker = await startWorker(env, { INFCTL_WORKER_METRICS_ADDRESS: metricsAddress });
    await startCacheWorkflow(temporal, fixture());
  });
  after(async () => {
    await worker?.kill();
    await stopCacheWorkflow(temporal, NS);
    await temporal?.connection.close();
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    for (const s of sims) s.stop();
    await releaseDevEnvironment();
  });

  it('evicts a replica whose KV usage stays above evictionThreshold exactly once under a steady load', async () => {
    await until(
      'the loop reports both replicas',
      async () => (cacheStatus().replicas?.length === 2 ? true : undefined),
      30_000,
    );
    const stop = steadyLoad(sims[0]!.url, MODEL, 3);
    try {
      const status = await until(
        'an eviction',
        async () => {
          const s = cacheStatus();
          return (s.evictions ?? 0) >= 1 ? s : undefined;
        },
        30_000,
      );
      assert.equal(status.lastAction?.action, 'Evict');
      assert.equal(status.lastAction?.target, 'chat-svc-0');
      assert.equal(status.lastAction?.manual, false);
      assert.match(
        status.lastAction!.reason,
        /KV-cache usage \d+\.\d% stayed at or above evictionThreshold 50\.0% for \d+ polls/,
      );
      // The same steady load for 10 more seconds (inside the 20 s cooldown): no second eviction.
      await new Promise((r) => setTimeout(r, 10_000));
      assert.equal(cacheStatus().evictions, 1);
    } finally {
      await stop();
    }
    assert.ok((await kvUsage(sims[0]!)) < 0.5, 'KV usage stayed high after the eviction');
    const history = infctlFor(env)('history', `InferenceCache/${NS}/chat-cache`);
    assert.equal(history.code, 0, history.err);
    assert.equal(history.out.match(/evictCache/g)?.length, 1, history.out);
    // The ticks' reads are local activities, listed from their markers with what they read.
    assert.match(
      history.out,
      /readCacheTick \(local\)\s+\d+ ms\s+[1-9]\d*\/\d+ replica\(s\) read/,
      history.out,
    );
    // Counted in the worker's metrics: one automatic eviction done.
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    assert.match(
      metrics,
      /inference_cache_actions(?:_total)?\{[^}]*action="Evict"[^}]*outcome="done"[^}]*trigger="automatic"[^}]*\} 1\b/,
      metrics
        .split('\n')
        .filter((l) => l.startsWith('inference_cache'))
        .join('\n'),
    );
  });

  it('forceEvict through infctl evicts the named replica and says it was manual', async () => {
    const r = infctlFor(env)('evict', `InferenceCache/${NS}/chat-cache`, 'chat-svc-1', 'operator', 'test');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"manual": true/);
    const status = await until('status shows the forced eviction', async () => {
      const s = cacheStatus();
      return s.evictions === 2 ? s : undefined;
    });
    assert.equal(status.lastAction?.target, 'chat-svc-1');
    assert.match(status.lastAction!.reason, /forced by an operator: operator test/);
    const bad = infctlFor(env)('evict', `InferenceCache/${NS}/chat-cache`, 'no-such-replica');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /replica "no-such-replica" is not a ready replica/);
  });

  it('a paused loop takes no automatic action, and acts again once resumed', async () => {
    assert.equal(infctlFor(env)('pause', `InferenceCache/${NS}/chat-cache`, 'maintenance').code, 0);
    // Past the cooldown of the first eviction, with the replica full again.
    const stop = steadyLoad(sims[0]!.url, MODEL, 3);
    try {
      await new Promise((r) => setTimeout(r, 22_000));
      assert.equal(cacheStatus().evictions, 2);
      assert.equal(infctlFor(env)('resume', `InferenceCache/${NS}/chat-cache`).code, 0);
      await until(
        'an automatic eviction after resume',
        async () => ((cacheStatus().evictions ?? 0) >= 3 ? true : undefined),
        30_000,
      );
    } finally {
      await stop();
    }
  });
});
