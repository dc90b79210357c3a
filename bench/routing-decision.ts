/**
 * The routing decision alone: microseconds per Scheduler.schedule() call at 4 and 64 endpoints, per strategy,
 * plus the per-request preparation (JSON parse, chat text, prefix block hashes) for 2 KiB and 16 KiB bodies.
 * Run: node --import tsx bench/routing-decision.ts
 */
import { EndpointState } from '../src/gateway/endpoints/endpoint-state.ts';
import { DEFAULT_ROUTING, type RoutingSettings } from '../src/gateway/routes/route-table.ts';
import type { SchedulingRequest } from '../src/gateway/scheduling/framework.ts';
import { BLOCK_CHARS, chatPromptText, prefixBlockHashes } from '../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../src/gateway/scheduling/prefix-index.ts';
import { buildScheduler } from '../src/gateway/scheduling/profiles.ts';
import { fixed, seeded, summarize, table } from './stats.ts';

const random = seeded(42);
const word = () => `w${Math.floor(random() * 5000)}`;
const text = (chars: number) => {
  let out = '';
  while (out.length < chars) out += `${word()} `;
  return out.slice(0, chars);
};

const ITERATIONS = 50_000;
const WARMUP = 5_000;

function body(bytes: number): string {
  const system = text(Math.floor(bytes * 0.6));
  const user = text(bytes - system.length - 120);
  return JSON.stringify({
    model: 'm',
    max_tokens: 16,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ],
  });
}

const profiles: [string, Partial<RoutingSettings>][] = [
  ['RoundRobin', { routeStrategy: 'RoundRobin' }],
  ['LeastLoaded + gpu-load-aware', { routeStrategy: 'LeastLoaded' }],
  ['PrefixHash + gpu-load-aware', { routeStrategy: 'PrefixHash' }],
  ['SessionAffinity + gpu-load-aware', { routeStrategy: 'SessionAffinity' }],
  ['PrecisePrefix + gpu-load-aware', { routeStrategy: 'PrecisePrefix' }],
];

const rows: (string | number)[][] = [];
const bodies = Array.from({ length: 256 }, () => body(2048));
const requests: SchedulingRequest[] = bodies.map((b, i) => {
  const parsed = JSON.parse(b) as { messages: { role: string; content: string }[] };
  return {
    model: 'm',
    blocks: prefixBlockHashes(chatPromptText(parsed.messages)),
    contextBlocks: Math.floor(chatPromptText(parsed.messages.slice(0, 1)).length / BLOCK_CHARS),
    sessionKey: `session-${i % 64}`,
    role: 'both',
    now: Date.now(),
  };
});

for (const n of [4, 64]) {
  for (const [label, overrides] of profiles) {
    const endpoints = Array.from(
      { length: n },
      (_, i) =>
        new EndpointState({
          name: `pod-${i}`,
          url: `http://10.0.${i >> 8}.${i & 255}:8000`,
          role: 'both',
          ready: true,
        }),
    );
    endpoints.forEach((e) => {
      e.kvUsage = random();
      e.waiting = Math.floor(random() * 4);
    });
    const scheduler = buildScheduler(
      { ...DEFAULT_ROUTING, ...overrides },
      { loadBound: 1.25, prefixIndex: new PrefixIndex() },
    );
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + ITERATIONS; i++) {
      const request = requests[i % requests.length]!;
      const started = process.hrtime.bigint();
      const { endpoint } = scheduler.schedule(request, endpoints);
      const elapsed = Number(process.hrtime.bigint() - started) / 1000;
      // Keep a realistic in-flight spread: each pick adds one, and requests finish at random.
      endpoint.inFlight++;
      const done = endpoints[Math.floor(random() * n)]!;
      if (done.inFlight > 0) done.inFlight--;
      if (i >= WARMUP) samples.push(elapsed);
    }
    const s = summarize(samples);
    rows.push([n, label, fixed(s.p50, 2), fixed(s.p99, 2)]);
  }
}
console.log(
  'Routing decision (Scheduler.schedule), microseconds per call, 50,000 calls after 5,000 warm-up\n',
);
console.log(table(['endpoints', 'strategy', 'p50 µs', 'p99 µs'], rows));

const prepRows: (string | number)[][] = [];
for (const bytes of [2048, 16384]) {
  const samples: number[] = [];
  const payloads = Array.from({ length: 64 }, () => body(bytes));
  for (let i = 0; i < 20_000; i++) {
    const payload = payloads[i % payloads.length]!;
    const started = process.hrtime.bigint();
    const parsed = JSON.parse(payload) as { messages: { role: string; content: string }[] };
    prefixBlockHashes(chatPromptText(parsed.messages));
    if (i >= 2_000) samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  const s = summarize(samples);
  prepRows.push([`${bytes / 1024} KiB`, fixed(s.p50, 2), fixed(s.p99, 2)]);
}
console.log('\nPer-request preparation (JSON.parse + chat text + prefix block hashes), microseconds\n');
console.log(table(['body', 'p50 µs', 'p99 µs'], prepRows));
