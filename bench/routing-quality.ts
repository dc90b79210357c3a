/**
 * Routing quality: four KV-cache simulators behind `infctl gateway` or a peer router (vllm-router,
 * sglang-router; bench/peers.ts), seeded traces, Poisson arrivals at several rates, one fresh set of
 * simulators per (trace, router, rate) cell.
 *   multi-turn: 8 tenants, each with a 1,000-token system prompt; 128 users (at most 64 active), 8 rounds each;
 *   a user starts with a unique 1,000-token history and adds a 100-token question and answer per round.
 *   shared-prefix: `--groups` groups x `--prompts` prompts; each group has a 2,000-token system prompt, each
 *   prompt a unique 50-token question and its own session; the groups' requests interleave.
 * Reports per cell: prefix-cache hit rate (the simulators' own counters), that rate as a fraction of the
 * trace's oracle (an unlimited cache replaying the same requests in the same order), TTFT p50/p90/p99 at
 * the client, throughput and load balance.
 * Run: node --import tsx bench/routing-quality.ts [--rates 8,12,16] [--traces multi-turn,shared-prefix]
 *   [--strategies RoundRobin,PrefixHash,...,vllm-router:consistent_hash,sglang-router:cache_aware] [--users 128]
 *   [--compiled]   (our gateway from `npm run build`'s dist/, as the image runs it)
 */
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { metricSum, parseExposition } from '../src/metrics/exposition.ts';
import { startPeer, treeCpuSeconds, type PeerName } from './peers.ts';
import { startGatewayProcess, startSimulator, type Simulator } from './processes.ts';
import { fixed, seeded, summarize, table } from './stats.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '8,12,16' },
    strategies: {
      type: 'string',
      default: 'RoundRobin,LeastLoaded,PrefixHash,SessionAffinity,PrecisePrefix',
    },
    traces: { type: 'string', default: 'multi-turn' },
    users: { type: 'string', default: '128' },
    groups: { type: 'string', default: '8' },
    prompts: { type: 'string', default: '16' },
    'max-tokens': { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    compiled: { type: 'boolean', default: false },
  },
});
const TENANTS = 8;
const USERS = Number(values.users);
const MAX_ACTIVE = 64;
const ROUNDS = 8;
const BLOCK = 16;
const MODEL = 'bench';
const SIM_ARGS = [
  '--enable-kvcache',
  '--block-size',
  String(BLOCK),
  '--kv-cache-size',
  '4096',
  '--latency-calculator',
  'per-token',
  '--prefill-time-per-token',
  '250us',
  '--prefill-overhead',
  '30ms',
  '--inter-token-latency',
  '12ms',
  '--max-model-len',
  '16384',
];

// ---- the trace: every text is seeded, so every cell replays the same conversations ----
const random = seeded(Number(values.seed));
const text = (tokens: number) =>
  Array.from({ length: tokens }, () => `w${Math.floor(random() * 30000)}`).join(' ');
const systems = Array.from({ length: TENANTS }, () => text(1000));
interface Message {
  role: string;
  content: string;
}
const conversations: { system: string; history: string; questions: string[]; answers: string[] }[] =
  Array.from({ length: USERS }, (_, u) => ({
    system: systems[u % TENANTS]!,
    history: text(1000),
    questions: Array.from({ length: ROUNDS }, () => text(100)),
    answers: Array.from({ length: ROUNDS }, () => text(100)),
  }));
const MAX_TOKENS = Number(values['max-tokens']);
const sharedSystems = Array.from({ length: Number(values.groups) }, () => text(2000));
/** The shared-prefix trace: every group's prompts, interleaved group by group. */
const shared: { messages: Message[]; session: string }[] = [];
for (let p = 0; p < Number(values.prompts); p++)
  sharedSystems.forEach((system, g) =>
    shared.push({
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: text(50) },
      ],
      session: `g${g}-q${p}`,
    }),
  );
function messagesFor(user: number, round: number): Message[] {
  const c = conversations[user]!;
  const messages: Message[] = [
    { role: 'system', content: c.system },
    { role: 'user', content: c.history },
    { role: 'assistant', content: 'noted' },
  ];
  for (let r = 0; r < round; r++)
    messages.push({ role: 'user', content: c.questions[r]! }, { role: 'assistant', content: c.answers[r]! });
  messages.push({ role: 'user', content: c.questions[round]! });
  return messages;
}

// ---- the oracle: the simulator's dummy tokenizer and chat rendering, an unlimited block cache ----
const TOKEN = /(\{|\}|:|,|-|\.|\?|!|;|@|#|\$|%|\^|&|\*|\(|\)|\+|-|_|~|\/|\\|>|<|\[|\]|=|"|'|\w+)(\s*)/g;
function tokens(messages: Message[]): string[] {
  const rendered = messages.map((m) => `### ${m.content}\n`).join('');
  return rendered.match(TOKEN) ?? [];
}
class Oracle {
  private readonly seen = new Set<string>();
  hits = 0;
  queries = 0;
  replay(messages: Message[]): void {
    const t = tokens(messages);
    this.queries += t.length;
    let chain = '';
    let prefix = true;
    for (let b = 0; b + BLOCK <= t.length; b += BLOCK) {
      chain = `${chain.length > 64 ? hash(chain) : chain}|${t.slice(b, b + BLOCK).join('')}`;
      const key = hash(chain);
      if (prefix && this.seen.has(key)) this.hits += BLOCK;
      else prefix = false;
      this.seen.add(key);
      chain = key;
    }
  }
}
function hash(s: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(36)}${(h2 >>> 0).toString(36)}`;
}

// ---- one cell ----
interface Outcome {
  ttft: number[];
  perEndpoint: Map<string, number>;
  errors: number;
  seconds: number;
  order: Message[][];
}

function send(
  url: string,
  messages: Message[],
  session: string,
): Promise<{ ttft: number; endpoint: string; ok: boolean }> {
  const body = Buffer.from(
    JSON.stringify({ model: MODEL, stream: true, max_tokens: MAX_TOKENS, ignore_eos: true, messages }),
  );
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'x-session-id': session,
      },
    });
    req.on('response', (res) => {
      let ttft = -1;
      res.on('data', () => {
        if (ttft < 0) ttft = performance.now() - started;
      });
      res.on('end', () =>
        resolve({
          ttft,
          endpoint: String(res.headers['x-inference-endpoint'] ?? '?'),
          ok: res.statusCode === 200,
        }),
      );
    });
    req.on('error', () => resolve({ ttft: -1, endpoint: '?', ok: false }));
    req.end(body);
  });
}

async function runCell(url: string, rate: number): Promise<Outcome> {
  const arrivals = seeded(1000 + rate);
  const pick = seeded(2000 + rate);
  const round = new Array<number>(USERS).fill(0);
  const idle: number[] = [];
  let nextUser = 0;
  let active = 0;
  const total = USERS * ROUNDS;
  let sent = 0;
  const outcome: Outcome = { ttft: [], perEndpoint: new Map(), errors: 0, seconds: 0, order: [] };
  const inflight: Promise<void>[] = [];
  let wake: (() => void) | undefined;
  const started = performance.now();
  let clock = started;
  while (sent < total) {
    clock += (-Math.log(1 - arrivals()) / rate) * 1000;
    const wait = clock - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // The arrival goes to an idle active user, or starts a new one while fewer than 64 are active.
    while (idle.length === 0 && !(active < MAX_ACTIVE && nextUser < USERS))
      await new Promise<void>((r) => (wake = r));
    let user: number;
    if (idle.length > 0 && (pick() < 0.5 || !(active < MAX_ACTIVE && nextUser < USERS)))
      user = idle.splice(Math.floor(pick() * idle.length), 1)[0]!;
    else {
      user = nextUser++;
      active++;
    }
    const r = round[user]!;
    round[user] = r + 1;
    sent++;
    const messages = messagesFor(user, r);
    outcome.order.push(messages);
    inflight.push(
      send(url, messages, `user-${user}`).then((result) => {
        if (result.ok) outcome.ttft.push(result.ttft);
        else outcome.errors++;
        outcome.perEndpoint.set(result.endpoint, (outcome.perEndpoint.get(result.endpoint) ?? 0) + 1);
        if (round[user]! < ROUNDS) idle.push(user);
        else active--;
        wake?.();
      }),
    );
  }
  await Promise.all(inflight);
  outcome.seconds = (performance.now() - started) / 1000;
  return outcome;
}

/** The shared-prefix trace at Poisson arrivals (open loop). */
async function runSharedCell(url: string, rate: number): Promise<Outcome> {
  const arrivals = seeded(3000 + rate);
  const outcome: Outcome = { ttft: [], perEndpoint: new Map(), errors: 0, seconds: 0, order: [] };
  const started = performance.now();
  let clock = started;
  const inflight: Promise<void>[] = [];
  for (const { messages, session } of shared) {
    clock += (-Math.log(1 - arrivals()) / rate) * 1000;
    const wait = clock - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    outcome.order.push(messages);
    inflight.push(
      send(url, messages, session).then((result) => {
        if (result.ok) outcome.ttft.push(result.ttft);
        else outcome.errors++;
      }),
    );
  }
  await Promise.all(inflight);
  outcome.seconds = (performance.now() - started) / 1000;
  return outcome;
}

/** Prefix-cache counters summed over the simulators, and each one's queried tokens (its load). */
async function simCounters(sims: Simulator[]): Promise<{ hits: number; queries: number; each: number[] }> {
  let hits = 0;
  let queries = 0;
  const each: number[] = [];
  for (const sim of sims) {
    const samples = parseExposition(await (await fetch(`${sim.url}/metrics`)).text());
    hits += metricSum(samples, 'vllm:prefix_cache_hits') ?? 0;
    const q = metricSum(samples, 'vllm:prefix_cache_queries') ?? 0;
    queries += q;
    each.push(q);
  }
  return { hits, queries, each };
}

/** Our gateway with a strategy, or `<peer>:<policy>`. */
async function startRouter(router: string, sims: Simulator[]) {
  const [peer, policy] = router.split(':');
  if (policy !== undefined)
    return startPeer(
      peer as PeerName,
      policy,
      sims.map((s) => s.url),
    );
  return startGatewayProcess(
    {
      routeStrategy: router,
      schedulingPolicy: router === 'RoundRobin' ? 'round-robin' : 'gpu-load-aware',
      models: [
        {
          model: MODEL,
          services: [{ name: 'sims', endpoints: sims.map((s, i) => ({ url: s.url, name: `sim-${i}` })) }],
        },
      ],
    },
    { compiled: values.compiled },
  );
}

const rows: (string | number)[][] = [];
const strategies = values.strategies.split(',');
const rates = values.rates.split(',').map(Number);
for (const trace of values.traces.split(','))
  for (const rate of rates) {
    for (const strategy of strategies) {
      const sims: Simulator[] = [];
      for (let i = 0; i < 4; i++) sims.push(await startSimulator({ model: MODEL, args: SIM_ARGS }));
      const router = await startRouter(strategy, sims);
      try {
        const before = await simCounters(sims);
        const cpuBefore = treeCpuSeconds(router.pid);
        const outcome = await (trace === 'shared-prefix' ? runSharedCell : runCell)(router.url, rate);
        const cpu = treeCpuSeconds(router.pid) - cpuBefore;
        const after = await simCounters(sims);
        const oracle = new Oracle();
        for (const messages of outcome.order) oracle.replay(messages);
        const hitRate = (after.hits - before.hits) / Math.max(1, after.queries - before.queries);
        const oracleRate = oracle.hits / oracle.queries;
        const t = summarize(outcome.ttft);
        const loads = after.each.map((q, i) => q - before.each[i]!);
        const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
        const n = outcome.order.length;
        rows.push([
          trace,
          rate,
          strategy,
          fixed(hitRate * 100, 1),
          fixed(oracleRate * 100, 1),
          fixed(hitRate / oracleRate, 3),
          fixed(t.p50, 0),
          fixed(t.p90, 0),
          fixed(t.p99, 0),
          fixed((n - outcome.errors) / outcome.seconds, 2),
          fixed(Math.max(...loads) / mean, 2),
          fixed((cpu / n) * 1000, 2),
          outcome.errors,
        ]);
        console.error(`${trace} rate ${rate} ${strategy}: done in ${outcome.seconds.toFixed(0)} s`);
      } finally {
        await router.stop();
        for (const s of sims) s.stop();
      }
    }
  }
console.log(
  `Routing quality: multi-turn ${USERS} users (${MAX_ACTIVE} active at most) x ${ROUNDS} rounds, ${TENANTS} tenants; shared-prefix ${values.groups} groups x ${values.prompts} prompts; max_tokens ${MAX_TOKENS}; 4 simulators (${SIM_ARGS.join(' ')})\n`,
);
console.log(
  table(
    [
      'trace',
      'rate/s',
      'router',
      'hit %',
      'oracle %',
      'of oracle',
      'TTFT p50 ms',
      'p90 ms',
      'p99 ms',
      'req/s',
      'max/mean load',
      'CPU s/1k req',
      'errors',
    ],
    rows,
  ),
);
