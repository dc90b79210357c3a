import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSimulator, type Simulator } from '../helpers/components.ts';
import {
  chat,
  gatewayMetric,
  MODEL,
  postChat,
  question,
  simMetric,
  startGateway,
  until,
  words,
  type RunningGateway,
} from '../helpers/gateway.ts';

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
    const res = await postChat(gw.url, {
      model: 'slow',
      stream: true,
      max_tokens: 10,
      ignore_eos: true,
      messages: [{ role: 'user', content: 'count' }],
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
    // The gateway timed the same pace between the chunks it relayed, and how long it held the request first.
    const itl = { model: 'slow', endpoint: 'slow' };
    const intervals = await gatewayMetric(gw.url, 'infctl_gateway_inter_token_latency_seconds_count', itl);
    const seconds = await gatewayMetric(gw.url, 'infctl_gateway_inter_token_latency_seconds_sum', itl);
    assert.ok(intervals >= 8, `${intervals} inter-token intervals observed`);
    const mean = seconds / intervals;
    console.log(`# ${intervals} inter-token intervals at the gateway, mean ${(mean * 1000).toFixed(1)} ms`);
    assert.ok(mean >= 0.03 && mean <= 0.1, `mean inter-token latency ${mean} s with the simulator at 50 ms`);
    assert.equal(
      await gatewayMetric(gw.url, 'infctl_gateway_queue_duration_seconds_count', { model: 'slow' }),
      1,
    );
    const waited = await gatewayMetric(gw.url, 'infctl_gateway_queue_duration_seconds_sum', {
      model: 'slow',
    });
    assert.ok(waited < 0.05, `the gateway held the request ${waited} s before sending it`);
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
    const res = await postChat(gw.url, {
      model: 'slow',
      stream: true,
      max_tokens: 20,
      ignore_eos: true,
      messages: [{ role: 'user', content: 'x' }],
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
    const streamed = await postChat(gw.url, question('stream me', { stream: true }));
    assert.equal(streamed.headers.get('x-prefill-endpoint'), 'prefill-0');
    assert.match(await streamed.text(), /\[DONE\]/);
  });
});
