/**
 * Gateway overhead: the same closed-loop load sent straight to a simulator, through `infctl gateway` and
 * through each peer router (bench/peers.ts), in one run. Simulator at zero latency; 2 KiB and 16 KiB chat
 * bodies; concurrency 1 and 64. Per router and cell: latency added over the direct run of the same cell,
 * requests/s, and the router's CPU (its process tree, /proc) per 1,000 requests.
 * Run (routers alone on core 1; simulator and load generator on core 0):
 *   taskset -c 0 node --import tsx bench/overhead.ts [--seconds 5] [--routers ours,vllm-router:cache_aware]
 *     [--compiled [--profile DIR]]
 * --compiled runs our gateway from `npm run build`'s dist/ (as the image does); --profile DIR also runs it under
 * `node --cpu-prof` and leaves its .cpuprofile in DIR.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { startPeer, treeCpuSeconds, type PeerName } from './peers.ts';
import { startGatewayProcess, startSimulator } from './processes.ts';
import { fixed, seeded, summarize, table } from './stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    cpus: { type: 'string', default: '1' },
    routers: { type: 'string', default: 'ours,vllm-router:cache_aware,sglang-router:cache_aware' },
    compiled: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
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
const routers: { name: string; url: string; pid: number; stop: () => Promise<void> }[] = [];
const rows: (string | number)[][] = [];
try {
  for (const name of values.routers.split(',')) {
    const [peer, policy] = name.split(':');
    const router =
      policy === undefined
        ? await startGatewayProcess(
            {
              routeStrategy: 'PrefixHash',
              models: [
                { model: 'bench', services: [{ name: 'sim', endpoints: [{ url: sim.url, name: 'sim' }] }] },
              ],
            },
            { cpus: values.cpus, compiled: values.compiled, profileDir: values.profile },
          )
        : await startPeer(peer as PeerName, policy, [sim.url], { cpus: values.cpus });
    routers.push({ name, url: router.url, pid: router.pid, stop: router.stop });
  }
  for (const bytes of [2048, 16384]) {
    const body = chatBody(bytes);
    for (const concurrency of [1, 64]) {
      await load(sim.url, body, concurrency, 1); // warm-up every path
      for (const router of routers) await load(router.url, body, concurrency, 1);
      const direct = await load(sim.url, body, concurrency, SECONDS);
      const d = summarize(direct.latencies);
      rows.push([
        `${bytes / 1024} KiB`,
        concurrency,
        'direct',
        fixed(d.p50, 2),
        fixed(d.p99, 2),
        '',
        '',
        fixed(direct.rps, 0),
        '',
        '',
        direct.errors,
      ]);
      for (const router of routers) {
        const cpuBefore = treeCpuSeconds(router.pid);
        const through = await load(router.url, body, concurrency, SECONDS);
        const cpu = treeCpuSeconds(router.pid) - cpuBefore;
        const g = summarize(through.latencies);
        rows.push([
          `${bytes / 1024} KiB`,
          concurrency,
          router.name,
          fixed(g.p50, 2),
          fixed(g.p99, 2),
          fixed(g.p50 - d.p50, 2),
          fixed(g.p99 - d.p99, 2),
          fixed(through.rps, 0),
          fixed(through.rps / direct.rps, 2),
          fixed((cpu / Math.max(1, through.latencies.length)) * 1000, 2),
          through.errors,
        ]);
      }
    }
  }
} finally {
  for (const router of routers) await router.stop();
  sim.stop();
}
console.log(
  `Overhead: ${SECONDS} s closed-loop runs per cell, max_tokens 1, simulator at zero latency; routers on core(s) ${values.cpus}\n`,
);
console.log(
  table(
    [
      'body',
      'conc',
      'router',
      'p50 ms',
      'p99 ms',
      'added p50 ms',
      'added p99 ms',
      'rps',
      'of direct',
      'CPU s/1k req',
      'errors',
    ],
    rows,
  ),
);
