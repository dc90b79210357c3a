import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent, get, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { freePort } from '../../src/cli/dev/processes.ts';
import { startRedis, startSimulator, type RedisServer, type Simulator } from '../helpers/components.ts';
import { chat, gatewayMetric, startGateway, until, type RunningGateway } from '../helpers/gateway.ts';

const MODEL = 'llama3-70b';
const question = (text: string, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  max_tokens: 5,
  messages: [{ role: 'user', content: text }],
  ...extra,
});
const twoEndpoints = (sims: Simulator[], extra: Record<string, unknown> = {}) => ({
  routeStrategy: 'RoundRobin',
  schedulingPolicy: 'round-robin',
  models: [
    {
      model: MODEL,
      services: [{ name: 'svc', endpoints: sims.map((s, i) => ({ url: s.url, name: `sim-${i}` })) }],
    },
  ],
  ...extra,
});

interface Answer {
  status: number;
  error?: { message: string; type: string; param: string | null; code: unknown };
}

/** Requests enough to open as many connections as the pool allows, at both ends. */
async function warmUp(url: string, concurrency: number, agent: Agent): Promise<void> {
  const body = JSON.stringify(question('warm', { stream: true, max_tokens: 10, ignore_eos: true }));
  await Promise.all(Array.from({ length: concurrency * 2 }, () => post(url, body, agent)));
}

/** POSTs over `agent` (a fixed pool, so the test controls its own connections); `abort` drops the response after its first chunk. */
function post(url: string, body: string, agent: Agent, abort = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', (err) => (abort ? resolve({ status: 0 }) : reject(err)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (abort) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0 });
        } else chunks.push(chunk);
      });
      res.on('error', () => {});
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let error: Answer['error'];
        try {
          error = (JSON.parse(text) as { error?: Answer['error'] }).error;
        } catch {
          error = undefined;
        }
        resolve({ status: res.statusCode ?? 0, error });
      });
    });
    req.end(body);
  });
}

/** Streams slowly enough to be aborted mid-way; many sequences at once, so nothing queues. */
const SIM_ARGS = ['--inter-token-latency', '10ms', '--max-num-seqs', '64'];
/** GETs a path over `agent`, for the body text. */
function getText(url: string, path: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { agent }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
/** The bad requests of issue 11, in turn: each reached the engine or broke the gateway once. */
const BAD: { body: string; abort?: boolean; status: number; code?: string }[] = [
  // 10 KB, 5,000 levels deep in a content part: a 500 and a leaked upstream socket before.
  {
    body: `{"model":"${MODEL}","messages":[{"role":"user","content":[{"type":"text","text":"x","deep":${DEEP}}]}]}`,
    status: 400,
    code: 'json_too_deep',
  },
  // Valid for the gateway, too long for the engine's 1,024-token context: the engine's 400, relayed.
  { body: JSON.stringify(question('long', { max_tokens: 5000 })), status: 400, code: 'invalid_request' },
  // A field only the engine checks: its Go decoding error, relayed cleaned.
  { body: JSON.stringify(question('eos', { ignore_eos: 'yes' })), status: 400, code: 'invalid_request' },
  // A client that leaves after the first streamed chunk.
  {
    body: JSON.stringify(question('stream', { stream: true, max_tokens: 30, ignore_eos: true })),
    abort: true,
    status: 200,
  },
];

async function sendBad(url: string, total: number, concurrency: number, agent: Agent): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const kind = BAD[next++ % BAD.length]!;
      const answer = await post(url, kind.body, agent, kind.abort);
      if (kind.abort) continue;
      assert.equal(answer.status, kind.status, JSON.stringify(answer));
      assert.equal(answer.error?.code, kind.code, JSON.stringify(answer));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const openFds = (pid: number | 'self' = 'self') => readdirSync(`/proc/${pid}/fd`).length;

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

/** `infctl gateway` as a child process under `prlimit --nofile=<limit>`; stopped by its own pid. */
async function startLimitedGateway(
  config: object,
  limit: number,
): Promise<{ url: string; pid: number; child: ChildProcess; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'infctl-gw-limit-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, stringify(config));
  const port = await freePort();
  const child = spawn(
    'prlimit',
    [
      `--nofile=${limit}:${limit}`,
      './bin/infctl',
      'gateway',
      '--config',
      file,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await until(
    'the limited gateway listening',
    async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : undefined),
    15_000,
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${output}`);
  });
  return { url, pid: child.pid!, child, output: () => output };
}

describe('gateway at a 256 open-file limit', () => {
  const sims: Simulator[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) sims.push(await startSimulator({ args: SIM_ARGS }));
  });
  after(() => {
    for (const s of sims) s.stop();
  });

  it('1,000 bad requests do not eject a healthy endpoint', async () => {
    const gateway = await startLimitedGateway(twoEndpoints(sims), 256);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const limits = execFileSync('prlimit', [
        '--nofile',
        '--noheadings',
        '--pid',
        String(gateway.pid),
      ]).toString();
      assert.match(limits, /\b256\s+256\b/, limits);
      await warmUp(gateway.url, 16, agent);
      const fdsBefore = openFds(gateway.pid);
      const started = performance.now();
      await sendBad(gateway.url, 1000, 16, agent);
      const elapsed = performance.now() - started;
      const fdsAfter = await until(
        'the gateway closed what the bad requests opened',
        async () => {
          const fds = openFds(gateway.pid);
          return fds <= fdsBefore ? fds : undefined;
        },
        5000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${fdsBefore} -> ${openFds(gateway.pid)} fds\n${gateway.output()}`);
      });
      console.log(
        `gateway under prlimit 256: fds ${fdsBefore} -> ${fdsAfter} after 1,000 bad requests in ${elapsed.toFixed(0)} ms`,
      );
      assert.equal(await gatewayMetric(gateway.url, 'infctl_gateway_ejections_total'), 0, gateway.output());
      assert.doesNotMatch(gateway.output(), /EMFILE|ejected endpoint/);
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await chat(gateway.url, question(`after ${i}`));
        assert.equal(r.status, 200);
        served.add(r.headers.get('x-inference-endpoint') ?? '');
      }
      assert.deepEqual([...served].sort(), ['sim-0', 'sim-1']);
    } finally {
      agent.destroy();
      gateway.child.kill('SIGTERM');
    }
  });
});

describe('gateway out of descriptors', () => {
  const sims: Simulator[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) sims.push(await startSimulator());
  });
  after(() => {
    for (const s of sims) s.stop();
  });

  it('answers 503 gateway_overloaded on EMFILE, blames no endpoint, and serves again once descriptors are free', async () => {
    const limit = 256;
    const gateway = await startLimitedGateway(twoEndpoints(sims), limit);
    // Connections accepted before the descriptors run out; /health needs no upstream connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const idle: Socket[] = [];
    try {
      await Promise.all(Array.from({ length: 4 }, () => getText(gateway.url, '/health', agent)));
      const port = Number(new URL(gateway.url).port);
      for (let i = 0; i < limit + 32; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        idle.push(socket);
      }
      await until(
        'the gateway out of descriptors',
        async () => (openFds(gateway.pid) >= limit - 1 ? true : undefined),
        5000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${openFds(gateway.pid)} fds\n${gateway.output()}`);
      });
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          post(gateway.url, JSON.stringify(question(`starved ${i}`)), agent),
        ),
      );
      // A descriptor freed meanwhile may carry one of them; the others find none.
      const overloaded = answers.filter((a) => a.status === 503 && a.error?.code === 'gateway_overloaded');
      for (const a of answers) assert.ok(a.status === 200 || overloaded.includes(a), JSON.stringify(a));
      assert.ok(overloaded.length >= 4, `${overloaded.length} of 8 were gateway_overloaded`);
      console.log(
        `out of descriptors (${openFds(gateway.pid)} of ${limit}): ${overloaded.length} of 8 requests 503 gateway_overloaded`,
      );
      // Two scrape intervals pass while out of descriptors: the failed health checks are the gateway's own.
      await new Promise((r) => setTimeout(r, 2500));
      const metrics = await getText(gateway.url, '/metrics', agent);
      assert.doesNotMatch(metrics, /infctl_gateway_ejections_total\{[^}]*\} [1-9]/);
      for (const socket of idle) socket.destroy();
      await until(
        'descriptors released',
        async () => (openFds(gateway.pid) < limit / 2 ? true : undefined),
        5000,
      );
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await chat(gateway.url, question(`fed ${i}`));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        served.add(r.headers.get('x-inference-endpoint') ?? '');
      }
      assert.deepEqual([...served].sort(), ['sim-0', 'sim-1']);
      assert.equal(await gatewayMetric(gateway.url, 'infctl_gateway_ejections_total'), 0);
      assert.doesNotMatch(gateway.output(), /ejected endpoint|is unhealthy/);
    } finally {
      for (const socket of idle) socket.destroy();
      agent.destroy();
      gateway.child.kill('SIGTERM');
    }
  });
});

/** The simulator's process, found by its listening port (the helper does not expose it). */
function pidOf(sim: Simulator): number {
  const line = execFileSync('ss', ['-Hltnp', `sport = :${sim.port}`]).toString();
  const pid = /pid=(\d+)/.exec(line)?.[1];
  assert.ok(pid, `no process listens on ${sim.port}: ${line}`);
  return Number(pid);
}

describe('a hung engine', () => {
  let hung: Simulator;
  let healthy: Simulator;
  let busy: Simulator;
  let gw: RunningGateway;
  const FIRST_BYTE_MS = 1000;

  before(async () => {
    hung = await startSimulator();
    healthy = await startSimulator();
    busy = await startSimulator({ args: ['--time-to-first-token', '2500ms'] });
    gw = await startGateway(
      {
        ...twoEndpoints([hung, healthy]),
        models: [
          ...twoEndpoints([hung, healthy]).models,
          {
            model: 'busy',
            services: [{ name: 'busy', backendModel: MODEL, endpoints: [{ url: busy.url, name: 'busy' }] }],
          },
        ],
      },
      {
        timeouts: { connectMs: 2000, responseMs: 600_000, idleMs: 300_000, firstByteMs: FIRST_BYTE_MS },
        // Health checks off: the first-byte timeout alone must find the hung engine.
        scrape: { intervalMs: 3_600_000, timeoutMs: 500, unhealthyAfter: 2 },
      },
    );
    gw.gateway.endpoints.stop();
  });
  after(async () => {
    await gw.stop();
    for (const s of [hung, healthy, busy]) s.stop();
  });

  it('is ejected within the first-byte timeout and its requests are served by the other endpoint', async () => {
    const pid = pidOf(hung);
    process.kill(pid, 'SIGSTOP');
    try {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const r = await chat(gw.url, question(`hung ${i}`));
          return {
            status: r.status,
            endpoint: r.headers.get('x-inference-endpoint'),
            ms: performance.now() - started,
          };
        }),
      );
      const slowest = Math.max(...answers.map((a) => a.ms));
      console.log(
        `6 requests, 3 first sent to the stopped engine: all answered within ${slowest.toFixed(0)} ms`,
      );
      for (const a of answers) assert.deepEqual([a.status, a.endpoint], [200, 'sim-1']);
      // first-byte timeout + the /health probe's 500 ms + the retry's own answer
      assert.ok(slowest < FIRST_BYTE_MS + 500 + 1000, `slowest answer after ${slowest.toFixed(0)} ms`);
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'sim-0' }), 1);
      assert.ok(gw.logs.some((l) => /sim-0 .*does not answer \/health: hung/.test(l) || /hung/.test(l)));
      const next = await chat(gw.url, question('after the ejection'));
      assert.equal(next.headers.get('x-inference-endpoint'), 'sim-1');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('keeps waiting on an engine that is slow to answer but alive', async () => {
    const started = performance.now();
    const r = await chat(gw.url, question('take your time', { model: 'busy' }));
    const elapsed = performance.now() - started;
    assert.deepEqual([r.status, r.headers.get('x-inference-endpoint')], [200, 'busy']);
    assert.ok(elapsed >= 2500, `answered after ${elapsed.toFixed(0)} ms`);
    assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'busy' }), 0);
    assert.equal(gw.gateway.endpoints.all().find((e) => e.name === 'busy')?.consecutiveFailures, 0);
  });
});

describe('semantic cache scope', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let gw: RunningGateway;
  let client: Redis;

  const service = (name: string, cache: Record<string, unknown>) => ({
    model: name,
    services: [
      {
        name,
        backendModel: MODEL,
        endpoints: [{ url: sim.url, name: 'sim' }],
        nlpFilters: { semanticCache: { storeRef: redis.url, threshold: 0.85, ttlSeconds: 60, ...cache } },
      },
    ],
  });
  const answers = async () => (await client.keys('infctl:semcache:chat:*:a:*')).length;
  /** Asks, and when the model answered waits until the answer is stored. */
  const ask = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const stored = await answers();
    const r = await chat(gw.url, body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (r.headers.get('x-cache') === 'miss')
      await until('the answer was stored', async () => ((await answers()) > stored ? true : undefined));
    return {
      cache: r.headers.get('x-cache'),
      content: (r.json.choices as { message: { content: string } }[])[0]!.message.content,
    };
  };

  before(async () => {
    sim = await startSimulator();
    redis = await startRedis();
    client = new Redis(redis.url);
    client.on('error', () => {});
    gw = await startGateway({
      models: [service('private', { tenantHeader: 'X-Tenant-Id' }), service('shared', { scope: 'shared' })],
    });
  });
  after(async () => {
    client.disconnect();
    await gw.stop();
    sim.stop();
    redis.stop();
  });

  it('never gives user B the answer user A received; the same user with the same parameters hits', async () => {
    const alice = { model: 'private', user: 'alice', temperature: 0.2, max_tokens: 6 };
    const a = await ask({ ...alice, messages: [{ role: 'user', content: 'How do I reset my password?' }] });
    assert.equal(a.cache, 'miss');
    const paraphrase = [{ role: 'user', content: 'How can I reset my password?' }];
    // The second user: other session, other user, other temperature and max_tokens.
    const bob = await ask(
      { model: 'private', user: 'bob', temperature: 0.9, max_tokens: 7, messages: paraphrase },
      { 'x-session-id': 'bob-session' },
    );
    assert.equal(bob.cache, 'miss');
    // Another user alone, with alice's parameters: still not alice's answer.
    assert.equal((await ask({ ...alice, user: 'carol', messages: paraphrase })).cache, 'miss');
    // Alice with other sampling parameters: another answer.
    assert.equal((await ask({ ...alice, temperature: 1.1, messages: paraphrase })).cache, 'miss');
    assert.equal((await ask({ ...alice, seed: 7, messages: paraphrase })).cache, 'miss');
    const again = await ask({ ...alice, messages: paraphrase });
    assert.deepEqual(again, { cache: 'hit', content: a.content });
    // The configured tenant header decides over the client's own `user` field.
    const t1 = await ask({ ...alice, messages: paraphrase }, { 'x-tenant-id': 't1' });
    assert.equal(t1.cache, 'miss');
    assert.equal((await ask({ ...alice, messages: paraphrase }, { 'x-tenant-id': 't2' })).cache, 'miss');
    assert.deepEqual(
      await ask({ ...alice, user: 'mallory', messages: paraphrase }, { 'x-tenant-id': 't1' }),
      {
        cache: 'hit',
        content: t1.content,
      },
    );
  });

  it('shares answers across users with scope shared, still per sampling parameters and route', async () => {
    const params = { model: 'shared', temperature: 0.2, max_tokens: 6 };
    const a = await ask({
      ...params,
      user: 'alice',
      messages: [{ role: 'user', content: 'Where is the train station?' }],
    });
    assert.equal(a.cache, 'miss');
    const paraphrase = [{ role: 'user', content: 'Where can I find the train station?' }];
    assert.deepEqual(await ask({ ...params, user: 'bob', messages: paraphrase }), {
      cache: 'hit',
      content: a.content,
    });
    assert.equal((await ask({ ...params, max_tokens: 9, user: 'bob', messages: paraphrase })).cache, 'miss');
    // The private route never sees the shared route's answers, even for the same user.
    assert.equal(
      (await ask({ ...params, model: 'private', user: 'alice', messages: paraphrase })).cache,
      'miss',
    );
  });
});
