import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../helpers/components.ts';
import {
  chat,
  gatewayMetric,
  MODEL,
  question,
  startGateway,
  twoEndpoints,
  until,
  type RunningGateway,
} from '../helpers/gateway.ts';
import { BAD, openFds, post, sendBad, SIM_ARGS, warmUp } from '../helpers/bad-requests.ts';

describe('gateway request safety', () => {
  const sims: Simulator[] = [];
  let gw: RunningGateway;

  before(async () => {
    for (let i = 0; i < 2; i++) sims.push(await startSimulator({ args: SIM_ARGS }));
    // The same simulators once more as a P/D pair, under other URLs (endpoint state is per URL).
    const [prefill, decode] = sims.map((s) => s.url.replace('127.0.0.1', 'localhost'));
    const pd = {
      model: 'pd',
      services: [
        {
          name: 'pd',
          backendModel: MODEL,
          endpoints: [
            { url: prefill, name: 'pd-prefill', role: 'prefill' },
            { url: decode, name: 'pd-decode', role: 'decode' },
          ],
        },
      ],
    };
    const config = twoEndpoints(sims);
    gw = await startGateway({ ...config, models: [...config.models, pd] });
  });
  after(async () => {
    await gw.stop();
    for (const s of sims) s.stop();
  });

  it('answers deep JSON, huge arrays, second spellings and bad sampling parameters with a 400 naming the field or limit', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const send = (body: string) => post(gw.url, body, agent);
      const deep = await send(BAD[0]!.body);
      assert.equal(deep.status, 400);
      assert.equal(deep.error?.code, 'json_too_deep');
      assert.match(deep.error!.message, /deeper than 64 levels/);
      const huge = await send(JSON.stringify(question('x', { logit_bias: new Array(300_000).fill(0) })));
      assert.equal(huge.error?.code, 'json_too_large');
      assert.match(huge.error!.message, /more than 250000 array elements/);
      const twice = await send(
        JSON.stringify({ ...question('hello'), Messages: [{ role: 'user', content: 'other' }] }),
      );
      assert.deepEqual(
        [twice.status, twice.error?.code, twice.error?.param],
        [400, 'ambiguous_key', 'Messages'],
      );
      for (const [value, code] of [
        [-1, 'integer_below_min_value'],
        [0, 'integer_below_min_value'],
        [1e15, 'integer_above_max_value'],
        ['12', 'invalid_type'],
      ] as const) {
        const r = await send(JSON.stringify(question('x', { max_tokens: value })));
        assert.equal(r.status, 400);
        assert.deepEqual(r.error, {
          message: r.error?.message,
          type: 'invalid_request_error',
          param: 'max_tokens',
          code,
        });
        assert.match(r.error!.message, /^max_tokens: must be an integer from 1 to 16777216/);
      }
      for (const [field, value] of [
        ['temperature', 'hot'],
        ['top_p', 2],
        ['n', 0],
        ['presence_penalty', -9],
        ['frequency_penalty', 9],
        ['max_completion_tokens', -3],
        ['stream', 'yes'],
      ] as const) {
        const r = await send(JSON.stringify(question('x', { [field]: value })));
        assert.deepEqual([r.status, r.error?.param], [400, field], `${field}: ${JSON.stringify(r)}`);
      }
      // Nothing above reached an engine.
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_requests_total', { endpoint: 'sim-0' }), 0);
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_requests_total', { endpoint: 'sim-1' }), 0);
    } finally {
      agent.destroy();
    }
  });

  it('answers the deep body with a 400 on a P/D route too, and still prefills and decodes a valid one', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const deep = await post(gw.url, BAD[0]!.body.replace(`"model":"${MODEL}"`, '"model":"pd"'), agent);
      assert.deepEqual([deep.status, deep.error?.code], [400, 'json_too_deep']);
      const ok = await chat(gw.url, question('prefill me', { model: 'pd' }));
      assert.equal(ok.status, 200);
      assert.deepEqual(
        [ok.headers.get('x-prefill-endpoint'), ok.headers.get('x-inference-endpoint')],
        ['pd-prefill', 'pd-decode'],
      );
    } finally {
      agent.destroy();
    }
  });

  it('relays engine errors in the OpenAI shape with string codes and no Go type names', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const goError = await post(gw.url, BAD[2]!.body, agent);
      assert.deepEqual(goError, {
        status: 400,
        error: {
          message: 'The engine could not read the request: ignore_eos must be a boolean, not a string.',
          type: 'invalid_request_error',
          param: 'ignore_eos',
          code: 'invalid_request',
        },
      });
      const context = await post(gw.url, BAD[1]!.body, agent);
      assert.equal(context.status, 400);
      assert.equal(context.error?.code, 'invalid_request');
      assert.match(context.error!.message, /maximum context length is 1024 tokens/);
      // An engine's 400 is the request's fault, not the endpoint's.
      for (const e of gw.gateway.endpoints.all()) assert.equal(e.consecutiveFailures, 0, e.name);
    } finally {
      agent.destroy();
    }
  });

  it('leaves the descriptor and upstream socket counts unchanged after 1,000 bad requests', async () => {
    const concurrency = 8;
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      await warmUp(gw.url, concurrency, agent);
      const fdsBefore = openFds();
      const socketsBefore = gw.gateway.upstreamSockets();
      const started = performance.now();
      await sendBad(gw.url, 1000, concurrency, agent);
      const elapsed = performance.now() - started;
      const settled = await until(
        'descriptors back to their count before',
        async () => {
          const fds = openFds();
          const sockets = gw.gateway.upstreamSockets();
          return fds <= fdsBefore && sockets.active === 0 ? { fds, sockets } : undefined;
        },
        3000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}: ${fdsBefore} -> ${openFds()} fds, upstream ${JSON.stringify(socketsBefore)} -> ${JSON.stringify(gw.gateway.upstreamSockets())}`,
        );
      });
      assert.ok(settled.sockets.free <= socketsBefore.active + socketsBefore.free + concurrency);
      console.log(
        `1,000 bad requests in ${elapsed.toFixed(0)} ms: fds ${fdsBefore} -> ${settled.fds}, upstream sockets ${JSON.stringify(socketsBefore)} -> ${JSON.stringify(settled.sockets)}`,
      );
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total'), 0);
      for (const e of gw.gateway.endpoints.all()) assert.equal(e.inFlight, 0, e.name);
    } finally {
      agent.destroy();
    }
  });
});
