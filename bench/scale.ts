/**
 * Scale: N resources (N/2 InferenceServices, each with its own InferenceCache, 1 GPU each) applied at once to
 * a fresh local environment (Kubernetes runtime on kwok), one `infctl worker`, one `infctl controller`, the
 * Temporal dev server. Per N: apply → Deployment and → Ready (services) p50/max, all Ready, CPU seconds and
 * peak RSS per process during convergence, then a steady window with the default poll interval and resync:
 * cores per process, API server requests by verb and resource, Temporal frontend requests by operation.
 * Run (it starts and stops its own environment in .state/bench; needs the heavy lock):
 *   flock /tmp/infctl-heavy.lock node --import tsx bench/scale.ts --n 10,100 [--steady 60] [--timeout 300]
 *     [--compiled [--profile-worker DIR]] [--worker-env NAME=VALUE ...]
 * --compiled runs the worker and the controller from `npm run build`'s dist/ (plain JavaScript and the prebuilt
 * workflow bundle, as the image does) instead of through tsx. --profile-worker runs the worker under
 * `node --cpu-prof`: one .cpuprofile per thread (the main thread, the workflow thread) in DIR when it stops.
 */
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { down, up, type DevEnvironment } from '../src/cli/dev/environment.ts';
import { REPO_ROOT } from '../src/tools/components.ts';
import { KubeClient, paths } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/objects.ts';
import { watchCollection } from '../src/kube/informer.ts';
import { startEngineProcess, type EngineProcess } from '../test/helpers/engine.ts';
import {
  apiserverCounts,
  diff,
  RssSampler,
  sampleGroup,
  temporalCounts,
  top,
  total,
  type Counts,
} from './scale-probes.ts';
import { fixed, table } from './stats.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10,100,300,1000' },
    steady: { type: 'string', default: '60' },
    settle: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '300' },
    'worker-env': { type: 'string', multiple: true, default: [] },
    compiled: { type: 'boolean', default: false },
    'profile-worker': { type: 'string' },
  },
});
/** The compiled CLI, or (undefined) startEngineProcess's default, the checkout's bin/infctl. */
const COMMAND = values.compiled ? ['node', join(REPO_ROOT, 'dist', 'cli', 'main.js')] : undefined;
if (values['profile-worker'] && !COMMAND) throw new Error('--profile-worker needs --compiled');
const WORKER_COMMAND =
  COMMAND && values['profile-worker']
    ? ['node', '--cpu-prof', `--cpu-prof-dir=${values['profile-worker']}`, ...COMMAND.slice(1)]
    : COMMAND;
const COUNTS = values.n.split(',').map(Number);
const STEADY_S = Number(values.steady);
const SETTLE_S = Number(values.settle);
const TIMEOUT_S = Number(values.timeout);
const WORKER_ENV = Object.fromEntries(values['worker-env'].map((kv) => kv.split('=', 2) as [string, string]));
process.env.INFCTL_STATE_DIR ??= join(REPO_ROOT, '.state', 'bench');
const NS = 'scale';
const PROCESSES = ['worker', 'controller', 'temporal', 'apiserver'] as const;
type Proc = (typeof PROCESSES)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isReady = (o: KubeObject) =>
  ((o as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );

/** A text endpoint of the API server (its /metrics) with the kubeconfig's credentials. */
async function apiserverText(kc: KubeConfig, path: string): Promise<string> {
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const options: https.RequestOptions = { hostname: server.hostname, port: server.port, path };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    https
      .get(options, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`${path}: ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

interface Snapshot {
  at: number;
  cpu: Record<Proc, number>;
  api: Counts;
  temporal: Counts;
}

interface Row {
  n: number;
  deployP50: number;
  deployMax: number;
  readyP50: number;
  readyMax: number;
  allReady: number;
  ready: number;
  convergeCpu: Record<Proc, number>;
  rss: Map<string, number>;
  steadyCores: Record<Proc, number>;
  steadyApi: Counts;
  steadyTemporal: Counts;
  convergeApi: Counts;
  convergeTemporal: Counts;
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}

async function runOne(n: number): Promise<Row> {
  await down(() => {});
  const { env } = await up({ nodesFile: join(REPO_ROOT, 'bench', 'scale-nodes.yaml'), log: () => {} });
  const procs: EngineProcess[] = [];
  try {
    return await measure(env, n, procs);
  } finally {
    for (const p of procs) await p.kill();
    await down(() => {});
  }
}

async function measure(env: DevEnvironment, n: number, procs: EngineProcess[]): Promise<Row> {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const kube = new KubeClient(kc);
  await kube.apply(`/api/v1/namespaces/${NS}`, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS },
  });
  const worker = await startEngineProcess(env, ['worker'], /state: 'RUNNING'/, WORKER_ENV, WORKER_COMMAND);
  procs.push(worker);
  const controller = await startEngineProcess(env, ['controller'], /\[controller\] watching/, {}, COMMAND);
  procs.push(controller);
  const groups: Record<Proc, number> = {
    worker: worker.child.pid as number,
    controller: controller.child.pid as number,
    temporal: env.pids.temporal as number,
    apiserver: env.pids['kube-apiserver'] as number,
  };
  const temporalMetrics = `http://127.0.0.1:${env.ports.temporalMetrics}/metrics`;
  const snapshot = async (): Promise<Snapshot> => ({
    at: Date.now(),
    cpu: Object.fromEntries(PROCESSES.map((p) => [p, sampleGroup(groups[p]).cpuSeconds])) as Record<
      Proc,
      number
    >,
    api: apiserverCounts(await apiserverText(kc, '/metrics')),
    temporal: temporalCounts(await (await fetch(temporalMetrics)).text()),
  });

  const pairs = n / 2;
  const appliedAt = new Map<string, number>();
  const deployedAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  let watching = true;
  const handlers = (record: (o: KubeObject) => void) => ({
    onChange: (o: unknown) => record(o as KubeObject),
    onDelete: () => {},
    log: (m: string) => console.error(`[bench] ${m}`),
    stopped: () => !watching,
  });
  const watches = [
    await watchCollection(
      kube,
      paths.deployments(NS),
      'deployments',
      handlers((o) => {
        const owner = o.metadata.ownerReferences?.[0]?.name ?? o.metadata.name;
        if (!deployedAt.has(owner)) deployedAt.set(owner, Date.now());
      }),
    ),
    ...['inferenceservices', 'inferencecaches'].map((plural) =>
      watchCollection(
        kube,
        paths.custom(plural, NS),
        plural,
        handlers((o) => {
          const key = `${o.kind}/${o.metadata.name}`;
          if (isReady(o) && !readyAt.has(key)) readyAt.set(key, Date.now());
        }),
      ),
    ),
  ];
  await Promise.all(watches);

  const rss = new RssSampler(groups);
  rss.start();
  const before = await snapshot();
  const objects: KubeObject[] = [];
  for (let i = 0; i < pairs; i++) {
    objects.push({
      apiVersion: 'production-stack.vllm.ai/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: `svc-${i}`, namespace: NS },
      spec: { modelName: `model-${i}`, inferenceCacheRef: `cache-${i}` },
    });
    objects.push({
      apiVersion: 'production-stack.vllm.ai/v1alpha1',
      kind: 'InferenceCache',
      metadata: { name: `cache-${i}`, namespace: NS },
      spec: {
        modelName: `model-${i}`,
        kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 },
      },
    });
  }
  const started = Date.now();
  const queue = [...objects];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let o = queue.shift(); o; o = queue.shift()) {
        const plural = o.kind === 'InferenceService' ? 'inferenceservices' : 'inferencecaches';
        await kube.apply(paths.custom(plural, NS, o.metadata.name), o);
        appliedAt.set(`${o.kind}/${o.metadata.name}`, Date.now());
      }
    }),
  );
  const deadline = started + TIMEOUT_S * 1000;
  while (readyAt.size < n && Date.now() < deadline) await sleep(200);
  const converged = await snapshot();
  const convergedPeak = rss.stop();
  const allReady = readyAt.size === n ? Math.max(...readyAt.values()) - started : NaN;
  console.error(
    `[bench] N=${n}: ${readyAt.size}/${n} Ready after ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  rss.start();
  await sleep(SETTLE_S * 1000);
  const steadyStart = await snapshot();
  await sleep(STEADY_S * 1000);
  const steadyEnd = await snapshot();
  const steadyPeak = rss.stop();
  watching = false;
  for (const w of await Promise.all(watches)) await w.stop();

  const services = objects.filter((o) => o.kind === 'InferenceService').map((o) => o.metadata.name);
  const since = (map: Map<string, number>, name: string, key = name) =>
    (map.get(key) ?? NaN) - (appliedAt.get(`InferenceService/${name}`) ?? NaN);
  const deploy = services.map((s) => since(deployedAt, s)).filter(Number.isFinite);
  const ready = services.map((s) => since(readyAt, s, `InferenceService/${s}`)).filter(Number.isFinite);
  const minutes = (steadyEnd.at - steadyStart.at) / 60_000;
  const peak = new Map(
    PROCESSES.map((p) => [p, Math.max(convergedPeak.get(p) ?? 0, steadyPeak.get(p) ?? 0)]),
  );
  return {
    n,
    deployP50: pct(deploy, 50),
    deployMax: Math.max(...deploy),
    readyP50: pct(ready, 50),
    readyMax: Math.max(...ready),
    allReady,
    ready: readyAt.size,
    convergeCpu: Object.fromEntries(PROCESSES.map((p) => [p, converged.cpu[p] - before.cpu[p]])) as Record<
      Proc,
      number
    >,
    rss: peak,
    steadyCores: Object.fromEntries(
      PROCESSES.map((p) => [p, (steadyEnd.cpu[p] - steadyStart.cpu[p]) / (minutes * 60)]),
    ) as Record<Proc, number>,
    steadyApi: scale(diff(steadyEnd.api, steadyStart.api), 1 / minutes),
    steadyTemporal: scale(diff(steadyEnd.temporal, steadyStart.temporal), 1 / minutes),
    convergeApi: diff(converged.api, before.api),
    convergeTemporal: diff(converged.temporal, before.temporal),
  };
}

const scale = (c: Counts, f: number): Counts => new Map([...c].map(([k, v]) => [k, v * f]));
const s = (ms: number) => fixed(ms / 1000, 2);
const mib = (b = 0) => fixed(b / 2 ** 20, 0);

if (values.compiled) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`npm run build exited ${build.status}`);
}
const rows: Row[] = [];
for (const n of COUNTS) rows.push(await runOne(n));

console.log(
  `\nScale: N resources = N/2 InferenceServices + N/2 InferenceCaches; steady window ${STEADY_S} s\n`,
);
console.log(
  table(
    [
      'N',
      'apply→Deployment p50/max s',
      'apply→Ready p50/max s',
      'all Ready s',
      'converge CPU s w/c/t/a',
      'peak RSS MiB w/c/t/a',
    ],
    rows.map((r) => [
      r.n,
      `${s(r.deployP50)} / ${s(r.deployMax)}`,
      `${s(r.readyP50)} / ${s(r.readyMax)}`,
      r.ready === r.n ? s(r.allReady) : `${r.ready} of ${r.n} Ready`,
      PROCESSES.map((p) => fixed(r.convergeCpu[p], 1)).join(' / '),
      PROCESSES.map((p) => mib(r.rss.get(p))).join(' / '),
    ]),
  ),
);
console.log('\nSteady state (per minute of the window):\n');
console.log(
  table(
    [
      'N',
      'cores w/c/t/a',
      'w+c cores',
      'w+c CPU ms/resource/min',
      'apiserver req/min',
      'WF tasks/resource/min',
      'activities/resource/min',
    ],
    rows.map((r) => {
      const wc = r.steadyCores.worker + r.steadyCores.controller;
      return [
        r.n,
        PROCESSES.map((p) => fixed(r.steadyCores[p], 3)).join(' / '),
        fixed(wc, 3),
        fixed((wc * 60_000) / r.n, 1),
        fixed(total(r.steadyApi), 0),
        fixed((r.steadyTemporal.get('RespondWorkflowTaskCompleted') ?? 0) / r.n, 2),
        fixed((r.steadyTemporal.get('RespondActivityTaskCompleted') ?? 0) / r.n, 2),
      ];
    }),
  ),
);
for (const r of rows) {
  console.log(`\nN=${r.n} convergence apiserver: ${top(r.convergeApi, 12)}`);
  console.log(`N=${r.n} convergence temporal: ${top(r.convergeTemporal, 10)}`);
  console.log(`N=${r.n} steady apiserver/min: ${top(r.steadyApi, 12)}`);
  console.log(`N=${r.n} steady temporal/min: ${top(r.steadyTemporal, 10)}`);
}
process.exit(0);
