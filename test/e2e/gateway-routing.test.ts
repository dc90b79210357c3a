import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../helpers/components.ts';
import {
  chat,
  gatewayMetric,
  MODEL,
  question,
  route,
  simMetric,
  startGateway,
  until,
  words,
  type RunningGateway,
} from '../helpers/gateway.ts';

describe('gateway routing across four simulators', () => {
  const sims: Simulator[] = [];
  let gw: RunningGateway | undefined;

  before(async () => {
    for (let i = 0; i < 4; i++)
      sims.push(
        await startSimulator({
          args: ['--enable-kvcache', '--block-size', '16', '--time-to-first-token', '200ms'],
        }),
      );
  });
  after(async () => {
    await gw?.stop();
    for (const s of sims) s.stop();
  });

  it('SessionAffinity keeps a session on one endpoint and spreads sessions across endpoints', async () => {
    gw = await startGateway(route(sims, { routeStrategy: 'SessionAffinity' }));
    const served = new Map<string, Set<string>>();
    // One request at a time: with nothing else in flight no endpoint is over the load bound, so a session
    // never has a reason to move (the bound itself is pinned by the unit tests).
    for (let round = 0; round < 3; round++) {
      for (let s = 0; s < 8; s++) {
        const r = await chat(gw.url, question(words(round * 100 + s, 20)), {
          'x-session-id': `session-${s}`,
        });
        assert.equal(r.status, 200);
        const set = served.get(`session-${s}`) ?? new Set();
        set.add(r.headers.get('x-inference-endpoint') ?? '');
        served.set(`session-${s}`, set);
      }
    }
    for (const [session, endpoints] of served)
      assert.equal(endpoints.size, 1, `${session} moved: ${[...endpoints]}`);
    assert.ok(
      new Set([...served.values()].map((s) => [...s][0])).size >= 2,
      'all sessions landed on one endpoint',
    );
    // The OpenAI `user` field is the session when the header is absent.
    const byUser = [];
    for (let i = 0; i < 4; i++)
      byUser.push(await chat(gw.url, question(words(900 + i, 20), { user: 'carol' })));
    assert.equal(new Set(byUser.map((r) => r.headers.get('x-inference-endpoint'))).size, 1);
    await gw.stop();
    gw = undefined;
  });

  it('PrefixHash sends requests that share a prefix to the same endpoint, and the simulator reports cache hits', async () => {
    gw = await startGateway(route(sims, { routeStrategy: 'PrefixHash', schedulingPolicy: 'least-loaded' }));
    const system = words(7, 600);
    const hitsBefore = await Promise.all(sims.map((s) => simMetric(s, 'vllm:prefix_cache_hits')));
    const served = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await chat(gw.url, {
        model: MODEL,
        max_tokens: 3,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: `question ${i}: ${words(50 + i, 10)}` },
        ],
      });
      assert.equal(r.status, 200);
      served.add(r.headers.get('x-inference-endpoint') ?? '');
    }
    assert.equal(served.size, 1, `one prefix went to ${[...served]}`);
    assert.equal(
      await gatewayMetric(gw.url, 'infctl_gateway_routing_decisions_total', {
        model: MODEL,
        strategy: 'PrefixHash',
      }),
      5,
    );
    // The gateway's estimate: the first request's blocks all missed, the next four's shared system prompt hit.
    const blocks = await gatewayMetric(gw.url, 'infctl_gateway_prefix_blocks_total', { model: MODEL });
    const matched = await gatewayMetric(gw.url, 'infctl_gateway_prefix_matched_blocks_total', {
      model: MODEL,
    });
    console.log(
      `# prefix-hit estimate of five requests sharing a system prompt: ${matched} / ${blocks} blocks`,
    );
    assert.ok(matched / blocks > 0.6 && matched / blocks < 0.8, `prefix-hit estimate ${matched} / ${blocks}`);
    const hitsAfter = await Promise.all(sims.map((s) => simMetric(s, 'vllm:prefix_cache_hits')));
    const gained = hitsAfter.map((h, i) => h - hitsBefore[i]!);
    assert.ok(Math.max(...gained) >= 4 * 500, `prefix-cache hits gained per simulator: ${gained}`);
    // Different prefixes spread.
    const spread = new Set<string>();
    for (let i = 0; i < 16; i++)
      spread.add(
        (await chat(gw.url, question(words(1000 + i, 200)))).headers.get('x-inference-endpoint') ?? '',
      );
    assert.ok(spread.size >= 3, `16 prefixes used ${spread.size} endpoints`);
    await gw.stop();
    gw = undefined;
  });

  it('load spreads when the endpoint a prefix hashes to is saturated (bounded load)', async () => {
    gw = await startGateway(route(sims, { routeStrategy: 'PrefixHash', schedulingPolicy: 'least-loaded' }));
    const prompt = words(11, 300);
    const results = await Promise.all(
      Array.from({ length: 16 }, () => chat(gw!.url, { ...question(prompt), max_tokens: 20 })),
    );
    const counts = new Map<string, number>();
    for (const r of results) {
      assert.equal(r.status, 200);
      const e = r.headers.get('x-inference-endpoint') ?? '';
      counts.set(e, (counts.get(e) ?? 0) + 1);
    }
    assert.ok(counts.size >= 3, `16 concurrent requests, one prefix: ${JSON.stringify([...counts])}`);
    assert.ok(Math.max(...counts.values()) <= 8, `the owner took ${Math.max(...counts.values())} of 16`);
    await gw.stop();
    gw = undefined;
  });

  it('gpu-load-aware reads KV usage and queue from every endpoint /metrics (simulator names without _total)', async () => {
    gw = await startGateway(
      route(sims, { routeStrategy: 'LeastLoaded', schedulingPolicy: 'gpu-load-aware' }),
    );
    await chat(gw.url, question(words(3, 400)));
    const states = await until('every endpoint scraped', async () => {
      const all = gw!.gateway.endpoints.all();
      return all.length === 4 && all.every((e) => e.kvUsage !== undefined && e.waiting !== undefined)
        ? all
        : undefined;
    });
    for (const e of states) assert.ok(e.kvUsage! >= 0 && e.kvUsage! <= 1, `${e.name} kv usage ${e.kvUsage}`);
    const byLoad = await Promise.all(
      ['kv-usage', 'queue', 'in-flight'].map((scorer) =>
        gatewayMetric(gw!.url, 'infctl_gateway_routing_decisions_total', { model: MODEL, scorer }),
      ),
    );
    assert.ok(byLoad.reduce((a, b) => a + b, 0) >= 1, `no decision credited to a load scorer: ${byLoad}`);
    await gw.stop();
    gw = undefined;
  });

  it('round-robin and least-loaded use every endpoint', async () => {
    for (const strategy of ['RoundRobin', 'LeastLoaded']) {
      gw = await startGateway(route(sims, { routeStrategy: strategy, schedulingPolicy: 'least-loaded' }));
      const used = new Set<string>();
      for (let i = 0; i < 8; i++)
        used.add((await chat(gw.url, question('same prompt'))).headers.get('x-inference-endpoint') ?? '');
      assert.equal(used.size, 4, `${strategy} used ${[...used]}`);
      await gw.stop();
      gw = undefined;
    }
  });

  it('PrecisePrefix follows the endpoint that served a conversation so far', async () => {
    gw = await startGateway(
      route(sims, { routeStrategy: 'PrecisePrefix', schedulingPolicy: 'least-loaded' }),
    );
    const conversations = Array.from({ length: 6 }, (_, i) => words(300 + i, 300));
    const first = await Promise.all(conversations.map((c) => chat(gw!.url, question(c))));
    const owners = first.map((r) => r.headers.get('x-inference-endpoint'));
    for (let turn = 0; turn < 2; turn++) {
      const next = await Promise.all(
        conversations.map((c, i) => chat(gw!.url, question(`${c} turn ${turn} ${words(i + turn, 20)}`))),
      );
      assert.deepEqual(
        next.map((r) => r.headers.get('x-inference-endpoint')),
        owners,
      );
    }
    await gw.stop();
    gw = undefined;
  });
});
