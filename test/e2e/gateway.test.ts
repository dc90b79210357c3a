import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { freePort } from '../../src/cli/dev/processes.ts';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import { startRedis, startSimulator, type RedisServer, type Simulator } from '../helpers/components.ts';
import { chat, gatewayMetric, startGateway, until, words, type RunningGateway } from '../helpers/gateway.ts';

const MODEL = 'llama3-70b';
const endpointsOf = (sims: Simulator[]) => sims.map((s, i) => ({ url: s.url, name: `sim-${i}` }));
const route = (
  sims: Simulator[],
  extra: Record<string, unknown> = {},
  service: Record<string, unknown> = {},
) => ({
  models: [{ model: MODEL, services: [{ name: 'svc', endpoints: endpointsOf(sims), ...service }] }],
  ...extra,
});
const question = (text: string, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  max_tokens: 5,
  messages: [{ role: 'user', content: text }],
  ...extra,
});
async function simMetric(sim: Simulator, name: string): Promise<number> {
  return metricSum(parseExposition(await (await fetch(`${sim.url}/metrics`)).text()), name) ?? 0;
}

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

describe('gateway proxying', () => {
  let fast: Simulator;
  let slow: Simulator;
  let gw: RunningGateway;

  before(async () => {
    fast = await startSimulator();
    slow = await startSimulator({ args: ['--inter-token-latency', '50ms', '--time-to-first-token', '50ms'] });
    gw = await startGateway(
      {
        models: [
          { model: MODEL, services: [{ name: 'fast', endpoints: [{ url: fast.url, name: 'fast' }] }] },
          {
            model: 'slow',
            services: [{ name: 'slow', backendModel: MODEL, endpoints: [{ url: slow.url, name: 'slow' }] }],
          },
        ],
      },
      { maxBodyBytes: 64 * 1024, maxHeaderBytes: 4096 },
    );
  });
  after(async () => {
    await gw.stop();
    fast.stop();
    slow.stop();
  });

  it('streams server-sent events chunk by chunk as the endpoint produces them', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'slow',
        stream: true,
        max_tokens: 10,
        ignore_eos: true,
        messages: [{ role: 'user', content: 'count' }],
      }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const arrivals: number[] = [];
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      arrivals.push(performance.now());
      text += decoder.decode(chunk as Uint8Array);
    }
    assert.match(text, /data: \[DONE\]/);
    assert.ok(arrivals.length >= 5, `${arrivals.length} chunks arrived`);
    // 10 tokens 50 ms apart: the chunks arrive spread over time, not in one burst at the end.
    assert.ok(arrivals.at(-1)! - arrivals[0]! >= 300, `chunks spanned ${arrivals.at(-1)! - arrivals[0]!} ms`);
  });

  it('aborts the upstream request when the client disconnects', async () => {
    // A TCP relay in front of the slow simulator shows when the gateway closes its upstream connection.
    const closed: number[] = [];
    const relay = createServer((client) => {
      const upstream = connect(slow.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('close', () => {
        closed.push(Date.now());
        upstream.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const relayed = await startGateway({
      models: [
        {
          model: 'slow',
          services: [{ name: 'slow', backendModel: MODEL, endpoints: [{ url: relayUrl, name: 'relayed' }] }],
        },
      ],
    });
    try {
      const controller = new AbortController();
      const res = await fetch(`${relayed.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'slow',
          stream: true,
          max_tokens: 200,
          ignore_eos: true,
          messages: [{ role: 'user', content: 'long' }],
        }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      const endpoint = relayed.gateway.endpoints.all().find((e) => e.name === 'relayed')!;
      assert.equal(endpoint.inFlight, 1);
      const abortedAt = Date.now();
      controller.abort();
      // 200 tokens at 50 ms would stream for 10 s; the gateway drops the upstream connection at once.
      await until('the upstream connection closed', async () => (closed.length > 0 ? true : undefined), 3000);
      assert.ok(
        closed[0]! - abortedAt < 1000,
        `upstream closed ${closed[0]! - abortedAt} ms after the abort`,
      );
      assert.equal(endpoint.inFlight, 0);
      // The client left on purpose: the endpoint is not blamed for it.
      assert.equal(endpoint.consecutiveFailures, 0);
    } finally {
      await relayed.stop();
      relay.close();
    }
  });

  it('answers errors in the OpenAI shape with stable codes', async () => {
    const post = async (body: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return {
        status: res.status,
        body: (await res.json()) as {
          error: { code: string; message: string; param: string | null; type: string };
        },
      };
    };
    const notJson = await post('{"model":');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'invalid_json');
    const noMessages = await post(JSON.stringify({ model: MODEL }));
    assert.equal(noMessages.body.error.code, 'invalid_request');
    assert.equal(noMessages.body.error.param, 'messages');
    const unknown = await post(JSON.stringify(question('x', { model: 'gpt-9' })));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'model_not_found');
    const big = await post(JSON.stringify(question('y'.repeat(70 * 1024))));
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'request_too_large');
    const wrongMethod = await fetch(`${gw.url}/v1/chat/completions`);
    assert.equal(wrongMethod.status, 405);
    const headers = await fetch(`${gw.url}/v1/models`, { headers: { 'x-big': 'z'.repeat(8000) } });
    assert.equal(headers.status, 431);
    assert.equal(((await headers.json()) as { error: { code: string } }).error.code, 'request_too_large');
  });

  it('serves /v1/models, /v1/completions, /v1/embeddings, /health and /metrics', async () => {
    const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((m) => m.id).sort(), [MODEL, 'slow']);
    const completion = await fetch(`${gw.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, prompt: 'once upon a time', max_tokens: 3 }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(completion.status, 200);
    const embedding = await fetch(`${gw.url}/v1/embeddings`, {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, input: 'embed me' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(embedding.status, 200);
    assert.equal(
      ((await embedding.json()) as { data: { embedding: number[] }[] }).data[0]!.embedding.length,
      384,
    );
    assert.equal((await fetch(`${gw.url}/health`)).status, 200);
    assert.ok(
      (await gatewayMetric(gw.url, 'infctl_gateway_requests_total', {
        model: MODEL,
        endpoint: 'fast',
        status: '200',
      })) >= 2,
    );
    assert.ok(
      (await gatewayMetric(gw.url, 'infctl_gateway_request_duration_seconds_count', { model: MODEL })) >= 2,
    );
    assert.ok(
      (await gatewayMetric(gw.url, 'infctl_gateway_time_to_first_byte_seconds_count', { model: 'slow' })) >=
        1,
    );
  });

  it('works with the official openai client, streaming and not', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused' });
    const answer = await client.chat.completions.create({
      model: MODEL,
      max_tokens: 5,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(answer.object, 'chat.completion');
    assert.equal(typeof answer.choices[0]!.message.content, 'string');
    const stream = await client.chat.completions.create({
      model: 'slow',
      max_tokens: 5,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    let content = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(content.length > 0);
    assert.ok(finish);
    const completion = await client.completions.create({ model: MODEL, prompt: 'hello', max_tokens: 3 });
    assert.equal(completion.object, 'text_completion');
    const listed = await client.models.list();
    assert.ok(listed.data.some((m) => m.id === MODEL));
    await assert.rejects(
      client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] }),
      (err: Error & { status?: number; code?: string }) => {
        assert.equal(err.status, 404);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
  });

  it('reloads a changed route file without dropping a request in flight', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'slow',
        stream: true,
        max_tokens: 20,
        ignore_eos: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    const generation = gw.gateway.table.generation;
    gw.rewrite({
      models: [
        {
          model: 'renamed',
          services: [{ name: 'fast', backendModel: MODEL, endpoints: [{ url: fast.url, name: 'fast' }] }],
        },
      ],
    });
    await until('the gateway reloaded', async () =>
      gw.gateway.table.generation > generation ? true : undefined,
    );
    const text = await res.text();
    assert.match(text, /data: \[DONE\]/);
    assert.equal((await chat(gw.url, question('x', { model: 'renamed' }))).status, 200);
    assert.equal((await chat(gw.url, question('x', { model: 'slow' }))).status, 404);
    // A broken edit keeps the routes in force and logs where the problem is.
    gw.rewrite({
      models: [{ model: 'renamed', services: [{ name: 'fast', endpoints: [{ url: 'not a url' }] }] }],
    });
    await until('the bad edit was reported', async () =>
      gw.logs.some((l) => l.includes('models.0.services.0.endpoints.0.url')) ? true : undefined,
    );
    assert.equal((await chat(gw.url, question('x', { model: 'renamed' }))).status, 200);
  });
});

describe('gateway resilience', () => {
  let live: Simulator;

  before(async () => {
    live = await startSimulator();
  });
  after(() => live.stop());

  it('retries on another endpoint when the connection fails, then ejects the dead endpoint', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    // Health checks effectively off: the passive path alone must cope.
    const gw = await startGateway(
      {
        routeStrategy: 'RoundRobin',
        models: [
          {
            model: MODEL,
            services: [
              {
                name: 's',
                endpoints: [
                  { url: dead, name: 'dead' },
                  { url: live.url, name: 'live' },
                ],
              },
            ],
          },
        ],
      },
      { scrape: { intervalMs: 3_600_000, timeoutMs: 500, unhealthyAfter: 2 } },
    );
    try {
      gw.gateway.endpoints.stop();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => chat(gw.url, question(`q${i}`))));
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-inference-endpoint'), 'live');
      }
      assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_retries_total')) >= 1);
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'dead' }), 1);
      assert.ok(gw.logs.some((l) => l.startsWith('ejected endpoint dead')));
      const retriesBefore = await gatewayMetric(gw.url, 'infctl_gateway_retries_total');
      for (let i = 0; i < 4; i++) assert.equal((await chat(gw.url, question(`after ${i}`))).status, 200);
      assert.equal(
        await gatewayMetric(gw.url, 'infctl_gateway_retries_total'),
        retriesBefore,
        'an ejected endpoint was tried',
      );
    } finally {
      await gw.stop();
    }
  });

  it('health checks take a failing endpoint out of the candidates before any request fails on it', async () => {
    const flaky = await startSimulator();
    const gw = await startGateway({
      routeStrategy: 'RoundRobin',
      models: [
        {
          model: MODEL,
          services: [
            {
              name: 's',
              endpoints: [
                { url: flaky.url, name: 'flaky' },
                { url: live.url, name: 'live' },
              ],
            },
          ],
        },
      ],
    });
    try {
      flaky.stop();
      await until('flaky marked unhealthy', async () =>
        gw.gateway.endpoints.all().find((e) => e.name === 'flaky')?.healthy === false ? true : undefined,
      );
      for (let i = 0; i < 4; i++)
        assert.equal((await chat(gw.url, question(`h${i}`))).headers.get('x-inference-endpoint'), 'live');
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_retries_total'), 0);
    } finally {
      await gw.stop();
    }
  });

  it('answers 503 no_healthy_upstream when no endpoint can take the request', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const gw = await startGateway({
      models: [{ model: MODEL, services: [{ name: 's', endpoints: [{ url: dead }] }] }],
    });
    try {
      await until('dead marked unhealthy', async () =>
        gw.gateway.endpoints.all()[0]?.healthy === false ? true : undefined,
      );
      const r = await chat(gw.url, question('x'));
      assert.equal(r.status, 503);
      assert.equal((r.json.error as { code: string }).code, 'no_healthy_upstream');
    } finally {
      await gw.stop();
    }
  });
});

describe('prefill/decode disaggregation', () => {
  let prefill: Simulator;
  let decode: Simulator;
  let gw: RunningGateway;

  before(async () => {
    prefill = await startSimulator({ args: ['--enable-kvcache', '--block-size', '16'] });
    // A decode step that received remote KV pays the transfer latency instead of prefill.
    decode = await startSimulator({ args: ['--kv-cache-transfer-latency', '400ms'] });
    gw = await startGateway({
      models: [
        {
          model: MODEL,
          services: [
            {
              name: 'pd',
              endpoints: [
                { url: prefill.url, name: 'prefill-0', role: 'prefill' },
                { url: decode.url, name: 'decode-0', role: 'decode' },
              ],
            },
          ],
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    prefill.stop();
    decode.stop();
  });

  it('prefills on the prefill endpoint, then decodes with the kv_transfer_params it returned', async () => {
    const queriesBefore = await simMetric(prefill, 'vllm:prefix_cache_queries');
    const started = performance.now();
    const r = await chat(gw.url, question(words(1, 200), { max_tokens: 8 }));
    const elapsed = performance.now() - started;
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-prefill-endpoint'), 'prefill-0');
    assert.equal(r.headers.get('x-inference-endpoint'), 'decode-0');
    assert.ok(
      (await simMetric(prefill, 'vllm:prefix_cache_queries')) > queriesBefore,
      'the prefill endpoint saw no prompt',
    );
    assert.ok(
      elapsed >= 400,
      `the decode did not receive kv_transfer_params (answered in ${elapsed.toFixed(0)} ms)`,
    );
    assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_prefill_decode_total', { outcome: 'ok' }), 1);
    const streamed = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(question('stream me', { stream: true })),
    });
    assert.equal(streamed.headers.get('x-prefill-endpoint'), 'prefill-0');
    assert.match(await streamed.text(), /\[DONE\]/);
  });
});

describe('prompt guard and semantic cache', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let gw: RunningGateway;

  before(async () => {
    sim = await startSimulator();
    redis = await startRedis();
    gw = await startGateway({
      models: [
        {
          model: MODEL,
          services: [
            {
              name: 'guarded',
              endpoints: [{ url: sim.url, name: 'sim' }],
              nlpFilters: {
                promptGuard: { blockedPatterns: ['SSN', 'CreditCard', 'Name', 'regex:(?i)project\\s+x'] },
                semanticCache: { storeRef: redis.url, threshold: 0.85, ttlSeconds: 2 },
              },
            },
          ],
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    sim.stop();
    redis.stop();
  });

  it('blocks prompts that match a detector with 400 prompt_blocked, naming the detector and never the text', async () => {
    for (const [prompt, detector] of [
      ['my social security number is 123-45-6789', 'SSN'],
      ['charge 4111 1111 1111 1111 please', 'CreditCard'],
      ['Hello, my name is Alice', 'Name'],
      ['what is PROJECT X about?', 'regex[3]'],
    ] as const) {
      const r = await chat(gw.url, question(prompt), { 'x-semantic-cache-bypass': '1' });
      assert.equal(r.status, 400, prompt);
      const error = r.json.error as { code: string; message: string };
      assert.equal(error.code, 'prompt_blocked');
      assert.match(error.message, new RegExp(detector.replace(/[[\]]/g, '\\$&')));
      for (const secret of ['123-45-6789', '4111', 'Alice', 'PROJECT X'])
        assert.ok(
          !error.message.includes(secret) && !gw.logs.join('\n').includes(secret),
          `leaked ${secret}`,
        );
    }
    assert.equal(
      await gatewayMetric(gw.url, 'infctl_gateway_prompt_guard_blocks_total', { detector: 'SSN' }),
      1,
    );
    const allowed = await chat(gw.url, question('what is the capital of France?'), {
      'x-semantic-cache-bypass': '1',
    });
    assert.equal(allowed.status, 200);
  });

  it('blocks an SSN in an embeddings input and in a chat content part, and lets a clean input through', async () => {
    const embeddings = (input: unknown) =>
      fetch(`${gw.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, input }),
      });
    const embedded = await embeddings(['hello', 'my ssn is １２３\u200b-４５-６７８９']);
    assert.equal(embedded.status, 400);
    const embedError = (
      (await embedded.json()) as { error: { code: string; message: string; param: string } }
    ).error;
    assert.equal(embedError.code, 'prompt_blocked');
    assert.equal(embedError.param, 'input');
    assert.match(embedError.message, /SSN/);
    const parts = await chat(
      gw.url,
      question('', {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'please file this:' },
              { type: 'text', text: 'ssn 123.45.6789' },
            ],
          },
        ],
      }),
      { 'x-semantic-cache-bypass': '1' },
    );
    assert.equal(parts.status, 400);
    assert.equal((parts.json.error as { code: string }).code, 'prompt_blocked');
    for (const secret of ['6789', '６７８９'])
      assert.ok(!gw.logs.join('\n').includes(secret), `the log leaked ${secret}`);
    assert.equal((await embeddings('a harmless sentence')).status, 200);
  });

  it('answers a paraphrase from the cache, replays it as SSE, honours bypass and expires with the TTL', async () => {
    const first = await chat(gw.url, question('How do I reset my password?'));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cache'), 'miss');
    const original = (first.json.choices as { message: { content: string } }[])[0]!.message.content;
    // The answer is stored after the response ends; wait for it in Redis itself.
    const client = new Redis(redis.url);
    client.on('error', () => {});
    await until('the answer was stored', async () =>
      (await client.keys('infctl:semcache:chat:*:a:*')).length === 1 ? true : undefined,
    );
    client.disconnect();
    const hit = await chat(gw.url, question('How can I reset my password?'));
    assert.equal(hit.headers.get('x-cache'), 'hit');
    assert.equal((hit.json.choices as { message: { content: string } }[])[0]!.message.content, original);
    assert.equal(hit.headers.get('x-inference-endpoint'), null);

    const unrelated = await chat(gw.url, question('Which rivers flow through Germany?'));
    assert.equal(unrelated.headers.get('x-cache'), 'miss');

    const streamed = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(question('how do i reset my password', { stream: true })),
    });
    assert.equal(streamed.headers.get('x-cache'), 'hit');
    assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = (await streamed.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.at(-1), 'data: [DONE]');
    const replayed = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta
            .content ?? '',
      )
      .join('');
    assert.equal(replayed, original);

    const bypass = await chat(gw.url, question('How can I reset my password?'), {
      'x-semantic-cache-bypass': '1',
    });
    assert.equal(bypass.headers.get('x-cache'), 'bypass');
    assert.equal(bypass.headers.get('x-inference-endpoint'), 'sim');

    await new Promise((r) => setTimeout(r, 2500));
    const expired = await chat(gw.url, question('How can I reset my password?'));
    assert.equal(expired.headers.get('x-cache'), 'miss');
    assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_semantic_cache_total', { result: 'hit' })) >= 2);
  });

  it('keeps answering as a miss while Redis is down', async () => {
    redis.stop();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw.url, question(`still working ${i}?`));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-cache'), 'miss');
    }
    assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_semantic_cache_total', { result: 'error' })) >= 3);
    assert.ok(gw.logs.some((l) => l.includes('unavailable')));
  });
});
