/**
 * The Transfer action end to end: a skewed load thrashes one simulator's prefix cache while the other idles;
 * the InferenceCache loop shifts the hot prefixes in the gateway (its admin API) and warms the cool replica;
 * the following polls measure the pool hit rate rise. Also the cache overrides through infctl: forceTransfer,
 * setPolicy and pauseActions/resumeActions, and the worker's metrics for the decisions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import {
  applyCacheFixture,
  startCacheWorkflow,
  stopCacheWorkflow,
  type CacheFixture,
} from '../helpers/cache.ts';
import {
  releaseDevEnvironment,
  startSimulator,
  useDevEnvironment,
  type Simulator,
} from '../helpers/components.ts';
import {
  infctlAsyncFor,
  infctlFor,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { chat, startGateway, until, type RunningGateway } from '../helpers/gateway.ts';
import { kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-transfer-${process.pid}`;
const MODEL = 'llama3-70b';
const TOKEN = `test-admin-token-${process.pid}`;
const CACHE = `InferenceCache/${NS}/chat-cache`;
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let worker: EngineProcess | undefined;
let gw: RunningGateway | undefined;
let metricsAddress = '';
const sims: Simulator[] = [];

interface CacheStatus {
  evictions?: number;
  transfers?: number;
  poolHitRate?: number;
  lastAction?: { action: string; target: string; reason: string; manual: boolean; effect?: string };
  actionsPaused?: boolean;
  suppressedAction?: { action: string; target: string; reason: string };
  policyOverride?: Record<string, unknown>;
  lastFailure?: { error: string };
}
const cacheStatus = (): CacheStatus => {
  const r = kubectl(['get', 'inferencecache', 'chat-cache', '-n', NS, '-o', 'json']);
  return r.code === 0 ? ((JSON.parse(r.stdout) as { status?: CacheStatus }).status ?? {}) : {};
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A system prompt of 200 words: 13 blocks of 16 tokens on the simulator. */
const systemPrompt = (seed: number) => Array.from({ length: 200 }, (_, i) => `p${seed}t${i}`).join(' ');
const ask = (seed: number, n: number) =>
  chat(gw!.url, {
    model: MODEL,
    max_tokens: 2,
    messages: [
      { role: 'system', content: systemPrompt(seed) },
      { role: 'user', content: `question ${n}` },
    ],
  });

/** Cycles through the prefixes, two requests at a time, until stopped; counts where each went. */
function skewedLoad(prefixes: number[]) {
  let running = true;
  const served = new Map<string, number>();
  const loops = [0, 1].map(async (lane) => {
    for (let n = lane; running; n += 2) {
      const seed = prefixes[n % prefixes.length]!;
      const r = await ask(seed, n).catch(() => undefined);
      const endpoint = r?.headers.get('x-inference-endpoint') ?? 'error';
      served.set(endpoint, (served.get(endpoint) ?? 0) + 1);
    }
  });
  return {
    served,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

const fixture = (endpoints: { name: string; url: string }[]): CacheFixture => ({
  namespace: NS,
  model: MODEL,
  cacheSpec: {
    modelName: MODEL,
    kvCacheTransferPolicy: {
      thresholdHitRate: 0.5,
      evictionThreshold: 0.99,
      sustainedPolls: 2,
      cooldown: '60s',
    },
    pollInterval: '1s',
    window: '10s',
  },
  endpoints,
});

describe('the InferenceCache Transfer action against simulators and the gateway', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    // 128 blocks of 16 tokens: 8 of the 13-block prompts fit, 16 thrash.
    for (let i = 0; i < 2; i++)
      sims.push(
        await startSimulator({
          model: MODEL,
          args: [
            '--enable-kvcache',
            '--block-size',
            '16',
            '--kv-cache-size',
            '128',
            '--enable-sleep-mode',
            '--time-to-first-token',
            '5ms',
            '--inter-token-latency',
            '2ms',
          ],
          env: { VLLM_SERVER_DEV_MODE: '1' },
        }),
      );
    const endpoints = sims.map((s, i) => ({ name: `chat-svc-${i}`, url: s.url }));
    gw = await startGateway(
      {
        routeStrategy: 'PrefixHash',
        schedulingPolicy: 'round-robin',
        models: [{ model: MODEL, services: [{ name: 'chat-svc', endpoints }] }],
      },
      { admin: { port: 0, host: '127.0.0.1', token: TOKEN } },
    );
    applyCacheFixture(kubectl, fixture(endpoints));
    metricsAddress = `127.0.0.1:${await freePort()}`;
    worker = await startWorker(env, {
      INFCTL_GATEWAY_ADMIN_URLS: `http://127.0.0.1:${gw.gateway.adminPort}`,
      INFCTL_GATEWAY_ADMIN_TOKEN: TOKEN,
      INFCTL_WORKER_METRICS_ADDRESS: metricsAddress,
    });
    await startCacheWorkflow(temporal, fixture(endpoints));
  });
  after(async () => {
    await worker?.kill();
    await stopCacheWorkflow(temporal, NS);
    await temporal?.connection.close();
    await gw?.stop();
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    for (const s of sims) s.stop();
    await releaseDevEnvironment();
  });

  it('a skewed load drags the pool hit rate down; the transfer moves hot prefixes and the hit rate rises', async () => {
    // 16 system prompts the gateway's prefix hash sends to chat-svc-0: more than its cache holds.
    const skewed: number[] = [];
    for (let seed = 0; skewed.length < 16 && seed < 500; seed++) {
      const r = await ask(seed, 0);
      assert.equal(r.status, 200);
      if (r.headers.get('x-inference-endpoint') === 'chat-svc-0') skewed.push(seed);
    }
    assert.equal(skewed.length, 16);
    await until(
      'the loop reports both replicas',
      async () => ((cacheStatus() as { replicas?: unknown[] }).replicas?.length === 2 ? true : undefined),
      30_000,
    );
    const load = skewedLoad(skewed);
    try {
      const decided = await until(
        'a transfer',
        async () => {
          const s = cacheStatus();
          return (s.transfers ?? 0) >= 1 ? s : undefined;
        },
        60_000,
      );
      assert.equal(decided.lastAction?.action, 'Transfer');
      assert.equal(decided.lastAction?.target, 'chat-svc-0 -> chat-svc-1');
      assert.equal(decided.lastAction?.manual, false);
      const reason = decided.lastAction!.reason;
      assert.match(
        reason,
        /pool hit rate \d+\.\d% stayed below thresholdHitRate 50\.0% for \d+ polls while chat-svc-0 took \d+ of \d+ queried tokens; moved 8 hot prefixes, warmed 8/,
        reason,
      );
      const before = Number(/pool hit rate (\d+\.\d)%/.exec(reason)![1]) / 100;
      assert.ok(before < 0.5, `pool hit rate before the transfer: ${before}`);
      const verified = await until(
        'the transfer verified on the next polls',
        async () => cacheStatus().lastAction?.effect,
        30_000,
      );
      assert.match(verified, /over the 2 polls after: rose/);
      // The window now holds only polls after the transfer: the pool hit rate is above where it was.
      await sleep(3000);
      const after = cacheStatus().poolHitRate!;
      assert.ok(after > before + 0.3, `pool hit rate ${after} after the transfer, ${before} before`);
      console.log(`# transfer: pool hit rate ${before} before, ${after} after; ${verified}`);
    } finally {
      await load.stop();
    }
    assert.ok((load.served.get('chat-svc-1') ?? 0) > 0, 'the cool replica served the moved prefixes');
    // The gateway's ownership table holds the shift; the hot prefixes now list both replicas.
    const owned = (await (
      await fetch(`http://127.0.0.1:${gw!.gateway.adminPort}/admin/ownership?model=${MODEL}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as { entries: { endpoint: string }[] };
    assert.equal(owned.entries.length, 8);
    assert.ok(owned.entries.every((e) => e.endpoint === sims[1]!.url));
    const history = infctlFor(env)('history', CACHE);
    assert.equal(history.code, 0, history.err);
    assert.equal(history.out.match(/transferCache/g)?.length, 1, history.out);
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    assert.match(
      metrics,
      /inference_cache_actions(?:_total)?\{[^}]*action="Transfer"[^}]*trigger="automatic"[^}]*\} 1/,
    );
    assert.match(metrics, /inference_cache_pool_hit_rate\{[^}]*\} 0\.\d+/);
  });

  it('forceTransfer through infctl moves prefixes back and says it was manual', async () => {
    const r = await infctlAsyncFor(env)('transfer', CACHE, 'chat-svc-1', 'chat-svc-0', 'rebalance', 'back');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"manual": true/);
    // chat-svc-1 served the prefixes moved to it, so some move back.
    assert.match(r.out, /forced by an operator: rebalance back; moved [1-9]\d* hot prefixes/);
    const status = await until('status shows the forced transfer', async () => {
      const s = cacheStatus();
      return s.transfers === 2 ? s : undefined;
    });
    assert.equal(status.lastAction?.target, 'chat-svc-1 -> chat-svc-0');
    const bad = await infctlAsyncFor(env)('transfer', CACHE, 'chat-svc-0', 'nope');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /replica "nope" is not a ready replica/);
  });

  it('setPolicy changes the thresholds for a while; paused actions are reported, not taken', async () => {
    const rejected = infctlFor(env)('set-policy', CACHE, 'evictionThreshold=2');
    assert.notEqual(rejected.code, 0);
    assert.match(rejected.err, /evictionThreshold must be a number between 0 and 1/);
    assert.equal(infctlFor(env)('pause-actions', CACHE, 'load', 'test').code, 0);
    // Every replica is "full" at threshold 0: an eviction is due on every poll once the cooldown is over.
    const set = infctlFor(env)(
      'set-policy',
      CACHE,
      'evictionThreshold=0',
      'sustainedPolls=1',
      'cooldown=1s',
      'expiresIn=10m',
      'reason=drill',
    );
    assert.equal(set.code, 0, set.err);
    const suppressed = await until(
      'a suppressed eviction',
      async () => cacheStatus().suppressedAction,
      20_000,
    );
    assert.equal(suppressed.action, 'Evict');
    assert.equal(cacheStatus().actionsPaused, true);
    assert.equal(cacheStatus().policyOverride?.evictionThreshold, 0);
    await sleep(3000);
    assert.equal(cacheStatus().evictions ?? 0, 0, 'an automatic eviction while actions were paused');
    assert.equal(infctlFor(env)('resume-actions', CACHE).code, 0);
    await until(
      'an eviction after resumeActions',
      async () => ((cacheStatus().evictions ?? 0) >= 1 ? true : undefined),
      20_000,
    );
    assert.equal(infctlFor(env)('set-policy', CACHE, 'clear').code, 0);
    await until('the override gone', async () =>
      cacheStatus().policyOverride === undefined ? true : undefined,
    );
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    assert.match(
      metrics,
      /inference_cache_actions(?:_total)?\{[^}]*action="Evict"[^}]*outcome="suppressed"[^}]*\} [1-9]/,
    );
  });
});
