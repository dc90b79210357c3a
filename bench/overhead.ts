/**
 * Gateway overhead: the same closed-loop load sent straight to a simulator and through `infctl gateway`, in
 * one run. Simulator at zero latency; 2 KiB and 16 KiB chat bodies; concurrency 1 and 64.
 * Run (gateway alone on core 1; simulator and load generator on core 0):
 *   taskset -c 0 node --import tsx bench/overhead.ts [--seconds 5]
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { startGatewayProcess, startSimulator } from './processes.ts';
import { fixed, seeded, summarize, table } from './stats.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, cpus: { type: 'string', default: '1' } },
});
const SECONDS = Number(values.seconds);
const random = seeded(7);

function chatBody(bytes: number): Buffer {
  let content = '';
  while (content.length < bytes - 100) content += `w${Math.floor(random() * 5000)} `;
  return Buffer.from(
    JSON.stringify({ model: 'bench', max_tokens: 1, messages: [{ role: 'user', content }] }),
  );
}

interface Run {
  latencies: number[];
  rps: number;
  errors: number;
}

async function load(baseUrl: string, body: Buffer, concurrency: number, seconds: number): Promise<Run> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL('/v1/chat/completions', baseUrl);
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = request(url, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      });
      req.on('response', (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - started);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, rps: latencies.length / elapsed, errors };
}

const sim = await startSimulator({
  model: 'bench',
  args: ['--max-num-seqs', '256', '--max-model-len', '16384'],
});
const gateway = await startGatewayProcess(
  {
    routeStrategy: 'PrefixHash',
    models: [{ model: 'bench', services: [{ name: 'sim', endpoints: [{ url: sim.url, name: 'sim' }] }] }],
  },
  { cpus: values.cpus },
);
const rows: (string | number)[][] = [];
try {
  for (const bytes of [2048, 16384]) {
    const body = chatBody(bytes);
    for (const concurrency of [1, 64]) {
      await load(sim.url, body, concurrency, 1); // warm-up both paths
      await load(gateway.url, body, concurrency, 1);
      const direct = await load(sim.url, body, concurrency, SECONDS);
      const through = await load(gateway.url, body, concurrency, SECONDS);
      const d = summarize(direct.latencies);
      const g = summarize(through.latencies);
      rows.push([
        `${bytes / 1024} KiB`,
        concurrency,
        fixed(d.p50, 2),
        fixed(d.p99, 2),
        fixed(g.p50, 2),
        fixed(g.p99, 2),
        fixed(g.p50 - d.p50, 2),
        fixed(g.p99 - d.p99, 2),
        fixed(direct.rps, 0),
        fixed(through.rps, 0),
        fixed(through.rps / direct.rps, 2),
        direct.errors + through.errors,
      ]);
    }
  }
} finally {
  await gateway.stop();
  sim.stop();
}
console.log(
  `Gateway overhead: ${SECONDS} s closed-loop runs per cell, max_tokens 1, simulator at zero latency\n`,
);
console.log(
  table(
    [
      'body',
      'conc',
      'direct p50 ms',
      'direct p99 ms',
      'gw p50 ms',
      'gw p99 ms',
      'added p50 ms',
      'added p99 ms',
      'direct rps',
      'gw rps',
      'gw/direct',
      'errors',
    ],
    rows,
  ),
);
