/**
 * Idle CPU: four simulators behind each router, no traffic; the router's CPU over a quiet window.
 * Run: node --import tsx bench/idle.ts [--seconds 10]
 */
import { parseArgs } from 'node:util';
import { startPeer, treeCpuSeconds } from './peers.ts';
import { startGatewayProcess, startSimulator } from './processes.ts';
import { fixed, table } from './stats.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' } } });
const SECONDS = Number(values.seconds);
const sims = await Promise.all(Array.from({ length: 4 }, () => startSimulator({ model: 'bench', args: [] })));
const urls = sims.map((s) => s.url);
const routers = [
  [
    'ours PrefixHash + gpu-load-aware',
    () =>
      startGatewayProcess({
        routeStrategy: 'PrefixHash',
        schedulingPolicy: 'gpu-load-aware',
        models: [
          {
            model: 'bench',
            services: [{ name: 'sims', endpoints: urls.map((url, i) => ({ url, name: `sim-${i}` })) }],
          },
        ],
      }),
  ],
  ['vllm-router cache_aware', () => startPeer('vllm-router', 'cache_aware', urls)],
  ['sglang-router cache_aware', () => startPeer('sglang-router', 'cache_aware', urls)],
] as const;
const rows: string[][] = [];
try {
  for (const [name, start] of routers) {
    const router = await start();
    await new Promise((r) => setTimeout(r, 2000));
    const before = treeCpuSeconds(router.pid);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const cpu = treeCpuSeconds(router.pid) - before;
    rows.push([name, fixed((cpu / SECONDS) * 100, 2)]);
    await router.stop();
  }
} finally {
  for (const s of sims) s.stop();
}
console.log(`Idle CPU, four endpoints, ${SECONDS} s window after 2 s\n`);
console.log(table(['router', '% of a core'], rows));
