/**
 * /healthz, /readyz and /metrics of the controller and the worker, run as processes against the local
 * Temporal and API server: ready once connected (and, for the controller, once every informer has listed);
 * not ready, saying why, while Temporal is down or while the controller's watches restart after an API server
 * outage; alive throughout; ready again once the outage ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { parseExposition } from '../../src/metrics/exposition.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { infctlAsyncFor, startController, startWorker, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { kubectlFor } from '../helpers/kubectl.ts';

const NS = `e2e-health-${process.pid}`;
const QUEUE = `e2e-health-${process.pid}`;
let env: DevEnvironment;
const processes: Record<'controller' | 'worker', { process?: EngineProcess; url: string }> = {
  controller: { url: '' },
  worker: { url: '' },
};
/** Outages under way; `after` waits for them, so nothing is left stopped. */
const outages: Promise<unknown>[] = [];

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}
const each = Object.entries(processes) as [keyof typeof processes, { url: string }][];

/** Waits until `component`'s /readyz answers `wanted` (200 or not) with a body matching `body`, and returns it. */
const readyz = (
  component: keyof typeof processes,
  wanted: 'ready' | 'not ready',
  timeoutMs = 60_000,
  body = /./,
) => {
  let last = '';
  return until(
    `${component} /readyz ${wanted} (${body})`,
    async () => {
      const r = await get(`${processes[component].url}/readyz`).catch(() => undefined);
      last = r?.body ?? last;
      return r && (r.status === 200) === (wanted === 'ready') && body.test(r.body) ? r : undefined;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}\nlast answer: ${last}\n${processes[component].process?.output().slice(-3000)}`,
    );
  });
};

const readinessGauge = async (component: keyof typeof processes, check: string) =>
  parseExposition((await get(`${processes[component].url}/metrics`)).body).find(
    (s) => s.name === 'infctl_readiness_check' && s.labels.check === check,
  )?.value;

/** `infctl dev restart <name> --down-for <ms>` in the background. */
const outage = (name: string, downForMs: number) => {
  const run = infctlAsyncFor(env)('dev', 'restart', name, '--down-for', `${downForMs}ms`);
  outages.push(run);
  return run;
};

describe('health endpoints of the controller and the worker', () => {
  before(async () => {
    env = await useDevEnvironment();
    assert.equal(kubectlFor(env)(['create', 'namespace', NS]).code, 0);
    const controllerAddress = `127.0.0.1:${await freePort()}`;
    const workerAddress = `127.0.0.1:${await freePort()}`;
    processes.controller.url = `http://${controllerAddress}`;
    processes.worker.url = `http://${workerAddress}`;
    processes.worker.process = await startWorker(env, {
      TEMPORAL_TASK_QUEUE: QUEUE,
      INFCTL_WORKER_METRICS_ADDRESS: workerAddress,
    });
    processes.controller.process = await startController(env, 2000, {
      TEMPORAL_TASK_QUEUE: QUEUE,
      INFCTL_WATCH_NAMESPACE: NS,
      INFCTL_CONTROLLER_METRICS_ADDRESS: controllerAddress,
    });
  });
  after(async () => {
    await Promise.allSettled(outages);
    for (const p of Object.values(processes)) await p.process?.kill();
    kubectlFor(env)(['delete', 'namespace', NS, '--wait=false']);
    await releaseDevEnvironment();
  });

  it('is ready once connected to Temporal (and, for the controller, every informer synced), and serves /metrics', async () => {
    const controller = await readyz('controller', 'ready');
    assert.match(controller.body, /^ready\n/);
    assert.match(controller.body, /\[\+\]temporal ok: Temporal at 127\.0\.0\.1:\d+ answers/);
    assert.match(controller.body, /\[\+\]informers ok: 5 kinds listed and watched/);
    const worker = await readyz('worker', 'ready');
    assert.match(worker.body, /\[\+\]temporal ok: Temporal at 127\.0\.0\.1:\d+ answers/);
    assert.match(worker.body, new RegExp(`\\[\\+\\]worker ok: polling task queue "${QUEUE}"`));
    for (const [name, p] of each)
      assert.deepEqual(await get(`${p.url}/healthz`), { status: 200, body: 'ok\n' }, name);

    const controllerMetrics = parseExposition((await get(`${processes.controller.url}/metrics`)).body);
    assert.equal(
      controllerMetrics.filter((s) => s.name === 'infctl_controller_informer_restarts_total').length,
      5,
      'one restart counter per kind',
    );
    // The worker's /metrics is the Temporal SDK's exporter, served through the worker's own listener.
    const workerMetrics = parseExposition((await get(`${processes.worker.url}/metrics`)).body);
    assert.ok(
      workerMetrics.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === QUEUE),
      `the SDK's metrics for ${QUEUE}: ${[...new Set(workerMetrics.map((s) => s.name))].join(', ')}`,
    );
    for (const [name] of each) assert.equal(await readinessGauge(name, 'temporal'), 1, name);
  });

  it('is not ready while Temporal is down, saying so, stays alive, and is ready again after', async () => {
    const started = Date.now();
    const restart = outage('temporal', 15_000);
    for (const [name, p] of each) {
      const r = await readyz(name, 'not ready', 20_000, /\[-\]temporal failed/);
      assert.equal(r.status, 503);
      assert.match(r.body, /^not ready\n/);
      assert.match(r.body, /\[-\]temporal failed: Temporal at 127\.0\.0\.1:\d+ unreachable: .+/, name);
      console.log(`# ${name} not ready ${((Date.now() - started) / 1000).toFixed(1)}s into the outage`);
      assert.equal((await get(`${p.url}/healthz`)).status, 200, `${name} stays alive`);
      assert.equal(await readinessGauge(name, 'temporal'), 0, `${name} /metrics reports it`);
    }
    const restarted = await restart;
    assert.equal(restarted.code, 0, restarted.err);
    for (const [name] of each) {
      await readyz(name, 'ready', 60_000);
      console.log(
        `# ${name} ready again ${((Date.now() - started) / 1000).toFixed(1)}s after the outage began`,
      );
    }
  });

  it('the controller is not ready while its informers restart after an API server outage', async () => {
    await readyz('controller', 'ready');
    const restart = outage('kube-apiserver', 8_000);
    const r = await readyz('controller', 'not ready', 20_000, /\[-\]informers failed/);
    assert.match(r.body, /\[-\]informers failed: .*watch failed \(.+\), restarting in \d+ ms/);
    assert.match(r.body, /\[\+\]temporal ok/);
    assert.equal((await get(`${processes.controller.url}/healthz`)).status, 200);
    const restarted = await restart;
    assert.equal(restarted.code, 0, restarted.err);
    const again = await readyz('controller', 'ready', 90_000);
    assert.match(again.body, /\[\+\]informers ok/);
  });

  it('a stopped controller exits on its own within seconds, after the outage too (its watches aborted)', async () => {
    const controller = processes.controller.process!;
    const started = performance.now();
    const exited = await Promise.race([
      controller.kill('SIGTERM').then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 15_000).unref()),
    ]);
    const seconds = (performance.now() - started) / 1000;
    if (!exited) await controller.kill('SIGKILL');
    assert.ok(
      exited,
      `the controller had not exited 15 s after SIGTERM\n${controller.output().slice(-2000)}`,
    );
    console.log(`# the controller exited ${seconds.toFixed(1)}s after SIGTERM`);
    assert.match(controller.output(), /controller stopped/);
    assert.ok(
      seconds < 5,
      `the controller took ${seconds.toFixed(1)}s to exit\n${controller.output().slice(-2000)}`,
    );
  });
});
