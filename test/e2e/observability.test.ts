/**
 * What a person sees in Grafana, against a real Prometheus: the controller, a worker on the process runtime,
 * the gateway (routes from Kubernetes) and the simulator replicas it rolls out are scraped every second under
 * a generated load; then every query the product ships (each panel target and annotation of the chart's
 * dashboards, each alert rule with its threshold removed) must return data over the test's time range. A
 * panel that can never show data fails here.
 *
 * The failures the failure panels and alerts count are real ones: a manual transfer while the worker's
 * gateway admin URL answers nothing (a failed cache action, failed activity attempts), a workflow started by
 * hand with an input the workflow cannot read (a failed workflow task), a 400 from the prompt guard.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  infctlFor,
  startController,
  startEngineProcess,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { chat, until, words } from '../helpers/gateway.ts';
import { applyDoc } from '../helpers/cache.ts';
import { deleteProductResources, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';
import {
  alertQueries,
  dashboardQueries,
  startPrometheus,
  type RunningPrometheus,
  type ShippedQuery,
} from '../helpers/prometheus.ts';

const NS = `e2e-obs-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
const MODEL = 'obs-model';
const QUEUE = `observability-e2e-${process.pid}`;
const BROKEN = `observability-broken-${process.pid}`;
const DIR = mkdtempSync(join(tmpdir(), 'infctl-obs-e2e-'));
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let prometheus: RunningPrometheus | undefined;
let temporal: Client | undefined;
const processes: EngineProcess[] = [];

interface Endpoint {
  name: string;
  url: string;
  role?: string;
  ready: boolean;
}
const serviceStatus = () => {
  const r = kubectl(['get', 'inferenceservice', 'obs-svc', '-n', NS, '-o', 'json']);
  if (r.code !== 0) return {};
  return (
    (JSON.parse(r.stdout) as { status?: { readyReplicas?: number; endpoints?: Endpoint[] } }).status ?? {}
  );
};

function resources(redisUrl: string): object[] {
  return [
    {
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'obs-cache' },
      spec: {
        modelName: MODEL,
        kvCacheTransferPolicy: {
          thresholdHitRate: 0,
          evictionThreshold: 0.02,
          sustainedPolls: 2,
          cooldown: '20s',
        },
        pollInterval: '1s',
        window: '10s',
      },
    },
    {
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'obs-svc' },
      spec: {
        modelName: MODEL,
        inferenceCacheRef: 'obs-cache',
        runtime: { engine: 'simulator', replicas: 2 },
        nlpFilters: {
          semanticCache: { storeRef: redisUrl, scope: 'shared' },
          promptGuard: { blockedPatterns: ['Email'] },
        },
      },
    },
    {
      apiVersion: API,
      kind: 'InferenceGateway',
      metadata: { name: 'obs-gw' },
      spec: { routeStrategy: 'PrefixHash', routes: [{ model: MODEL, inferenceServiceRef: 'obs-svc' }] },
    },
  ];
}

/** The queries over [start, now] with no data (or an error), as `where: expr (why)`. */
async function withoutData(queries: ShippedQuery[], start: number): Promise<string[]> {
  const end = Date.now() / 1000;
  const empty: string[] = [];
  for (const query of queries) {
    const r = await prometheus!.queryRange(query.expr, start, end, 2);
    const values = (r.data?.result ?? []).flatMap((s) => s.values).filter(([, v]) => v !== 'NaN');
    if (r.status !== 'success') empty.push(`${query.where}: ${query.expr} (${r.error})`);
    else if (values.length === 0) empty.push(`${query.where}: ${query.expr} (no data)`);
  }
  return empty;
}

describe('dashboards and alert rules against a real Prometheus', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
  });
  after(async () => {
    deleteProductResources(kubectl, NS);
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    await temporal?.workflow
      .getHandle(BROKEN)
      .terminate()
      .catch(() => {});
    for (const p of processes.reverse()) await p.kill();
    // Replicas the worker could not stop (their records are the process runtime's state files).
    const records = existsSync(join(DIR, NS))
      ? readdirSync(join(DIR, NS)).filter((f) => f.endsWith('.json'))
      : [];
    for (const f of records)
      try {
        process.kill(-(JSON.parse(readFileSync(join(DIR, NS, f), 'utf8')) as { pid: number }).pid, 'SIGKILL');
      } catch {
        // already gone
      }
    await prometheus?.stop();
    rmSync(DIR, { recursive: true, force: true });
    await releaseDevEnvironment();
  });

  it('every panel, annotation and alert expression returns data under load', async () => {
    const start = Date.now() / 1000;
    const [controllerPort, workerPort, gatewayPort, deadAdminPort] = await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    );
    prometheus = await startPrometheus([
      { job: 'controller', targets: [`127.0.0.1:${controllerPort}`] },
      { job: 'worker', targets: [`127.0.0.1:${workerPort}`] },
      { job: 'gateway', targets: [`127.0.0.1:${gatewayPort}`] },
    ]);
    const engine = { TEMPORAL_TASK_QUEUE: QUEUE, INFCTL_WATCH_NAMESPACE: NS };
    processes.push(
      await startController(env, 1000, {
        ...engine,
        INFCTL_CONTROLLER_METRICS_ADDRESS: `127.0.0.1:${controllerPort}`,
      }),
    );
    processes.push(
      await startWorker(env, {
        ...engine,
        INFCTL_RUNTIME: 'process',
        INFCTL_PROCESS_DIR: DIR,
        INFCTL_WORKER_METRICS_ADDRESS: `127.0.0.1:${workerPort}`,
        // Nothing listens there: every transfer fails (the failing-actions alert's series).
        INFCTL_GATEWAY_ADMIN_URLS: `http://127.0.0.1:${deadAdminPort}`,
        INFCTL_GATEWAY_ADMIN_TOKEN: 'observability-test',
      }),
    );
    for (const doc of resources(env.redisUrl)) applyDoc(kubectl, NS, doc);
    const endpoints = await until(
      'obs-svc Ready with two endpoints',
      async () => {
        const s = serviceStatus();
        return s.readyReplicas === 2 && s.endpoints?.length === 2 ? s.endpoints : undefined;
      },
      120_000,
    );
    // What the chart's engine PodMonitor attaches: model, role, inference_service, and the pod and namespace.
    prometheus.setEngineTargets(
      endpoints.map((e) => ({
        targets: [new URL(e.url).host],
        labels: {
          model: MODEL,
          role: e.role ?? 'both',
          inference_service: 'obs-svc',
          pod: e.name,
          namespace: NS,
        },
      })),
    );
    processes.push(
      await startEngineProcess(
        env,
        ['gateway', '--gateway', `${NS}/obs-gw`, '--host', '127.0.0.1', '--port', String(gatewayPort)],
        /listening on/,
      ),
    );
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    const ask = (content: string, headers: Record<string, string> = {}) =>
      chat(gateway, { model: MODEL, max_tokens: 8, messages: [{ role: 'user', content }] }, headers);
    await until(
      'the gateway serving the model',
      async () => {
        const answer = await ask('hi', { 'x-semantic-cache-bypass': '1' }).catch(() => undefined);
        return answer?.status === 200 ? true : undefined;
      },
      60_000,
    );

    const infctl = infctlFor(env);
    const load = startEngineProcess(
      env,
      [
        'load',
        '--url',
        gateway,
        '--model',
        MODEL,
        '--prompts',
        '8',
        '--words',
        '400',
        '--concurrency',
        '3',
        '--duration',
        '40s',
        // Streamed answers, as chat clients ask: the gateway's inter-token latency has observations.
        '--stream',
      ],
      /./,
    );
    // The prompt guard's refusals, the semantic cache's miss then hit.
    for (let i = 0; i < 3; i++) assert.equal((await ask(`mail me at someone${i}@example.com`)).status, 400);
    const question = `What does ${words(7, 12)} mean?`;
    for (let i = 0; i < 2; i++) assert.equal((await ask(question)).status, 200);
    // A manual transfer no gateway hears of: the action fails, after its activity's attempts.
    const names = endpoints.map((e) => e.name);
    const transfer = infctl(
      'transfer',
      `InferenceCache/${NS}/obs-cache`,
      names[0]!,
      names[1]!,
      'observability test',
    );
    assert.notEqual(transfer.code, 0, 'the transfer should have failed');
    assert.match(transfer.err, /no gateway admin API answered/);
    // A workflow whose input it cannot read: its workflow task fails (and is retried until terminated).
    temporal = await temporalFor(env);
    await temporal.workflow.start('InferenceCacheWorkflow', {
      taskQueue: QUEUE,
      workflowId: BROKEN,
      args: [null],
    });
    processes.push(await load);

    const queries = [...dashboardQueries(Date.now() / 1000 - start + 120), ...alertQueries()];
    assert.ok(queries.length >= 50, `only ${queries.length} queries found`);
    let empty: string[] = [];
    let specChanges = 0;
    await until(
      'every shipped query has data',
      async () => {
        // A spec change while Prometheus scrapes, for the controller's spec-to-signal histogram: the resources'
        // first signals can all land before Prometheus has scraped the controller twice, and nothing re-signals.
        const cooldown = `${20 + (++specChanges % 2)}s`;
        const patch = JSON.stringify({ spec: { kvCacheTransferPolicy: { cooldown } } });
        const patched = kubectl([
          'patch',
          'inferencecache',
          'obs-cache',
          '-n',
          NS,
          '--type=merge',
          '-p',
          patch,
        ]);
        assert.equal(patched.code, 0, patched.stderr);
        empty = await withoutData(queries, start);
        if (empty.length === 0) return true;
        await new Promise((r) => setTimeout(r, 2000));
        return undefined;
      },
      90_000,
    ).catch(async (err: Error) => {
      const names = (await (await fetch(`${prometheus!.url}/api/v1/label/__name__/values`)).json()) as {
        data: string[];
      };
      const ours = names.data.filter((n) => /^(temporal_|inference_|infctl_|vllm:)/.test(n));
      throw new Error(
        `${err.message}; ${empty.length} of ${queries.length} without data:\n${empty.join('\n')}\n` +
          `metrics Prometheus has: ${ours.join(' ')}`,
      );
    });
  });
});
