/**
 * The engine on the process runtime: the controller and a worker with INFCTL_RUNTIME=process roll an
 * InferenceService out as local simulator processes, publish their endpoints in its status, and run the
 * InferenceCache loop against them. The worker is killed with SIGKILL twice, in the middle of the rollout and
 * in the middle of the cache loop's hysteresis: no replica is started twice and no decision is lost or taken
 * twice.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { envExports, type DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { startController, startWorker, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { applyDoc, steadyLoad } from '../helpers/cache.ts';
import { kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-proc-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
const MODEL = 'proc-model';
// A task queue of its own: workflows other test files left behind must not run on the process runtime.
const QUEUE = `process-e2e-${process.pid}`;
const DIR = mkdtempSync(join(tmpdir(), 'infctl-proc-e2e-'));
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let worker: EngineProcess | undefined;
let controller: EngineProcess | undefined;

const engineEnv = () => ({ TEMPORAL_TASK_QUEUE: QUEUE });
const workerEnv = () => ({ ...engineEnv(), INFCTL_RUNTIME: 'process', INFCTL_PROCESS_DIR: DIR });
const infctl = (...args: string[]) => {
  const r = spawnSync('./bin/infctl', args, {
    encoding: 'utf8',
    env: { ...process.env, ...envExports(env), ...engineEnv() },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

interface ReplicaRecord {
  name: string;
  pid: number;
  port: number;
}
const records = (): ReplicaRecord[] => {
  const dir = join(DIR, NS);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ReplicaRecord);
};
/** Simulator processes listening on `port`, from /proc (a duplicate replica would be a second one). */
const processesOnPort = (port: number) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        const i = argv.indexOf('--port');
        return argv[0]?.endsWith('llm-d-inference-sim') && argv[i + 1] === String(port);
      } catch {
        return false;
      }
    });
/** pid, parent, start time and port of each simulator of the model, for failure messages. */
const describeSimulators = () =>
  simulatorsOfModel()
    .map((p) => {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return `pid ${p} ppid ${stat[1]} start ${stat[19]} port ${argv[argv.indexOf('--port') + 1]}`;
    })
    .join(', ');
/** Every running simulator whose model is this test's. */
const simulatorsOfModel = () =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('llm-d-inference-sim') && argv[argv.indexOf('--model') + 1] === MODEL;
      } catch {
        return false;
      }
    });

interface ServiceStatus {
  readyReplicas?: number;
  endpoints?: { name: string; url: string; ready: boolean }[];
  conditions?: { type: string; status: string }[];
}
const get = <T>(kind: string, name: string): T => {
  const r = kubectl(['get', kind, name, '-n', NS, '-o', 'json']);
  return r.code === 0 ? ((JSON.parse(r.stdout) as { status?: T }).status ?? ({} as T)) : ({} as T);
};
const serviceStatus = () => get<ServiceStatus>('inferenceservice', 'proc-svc');
const cacheStatus = () =>
  get<{ evictions?: number; maxKvUsage?: number; lastAction?: { target: string; reason: string } }>(
    'inferencecache',
    'proc-cache',
  );

describe('the engine on the process runtime, with worker crashes', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    controller = await startController(env, 1000, engineEnv());
  });
  after(async () => {
    // The resources go first, while the controller and worker can tear them down and release their finalizers.
    kubectl(['delete', 'inferenceservice,inferencecache', '--all', '-n', NS, '--timeout=60s']);
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    await worker?.kill();
    await controller?.kill();
    for (const r of records())
      try {
        process.kill(-r.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    rmSync(DIR, { recursive: true, force: true });
    await releaseDevEnvironment();
  });

  it('a worker killed in the middle of the rollout adopts the replicas it started: none is started twice', async () => {
    worker = await startWorker(env, workerEnv());
    const apply = (doc: object) => applyDoc(kubectl, NS, doc);
    apply({
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'proc-cache' },
      spec: {
        modelName: MODEL,
        kvCacheTransferPolicy: {
          thresholdHitRate: 0,
          evictionThreshold: 0.05,
          sustainedPolls: 3,
          cooldown: '30s',
        },
        pollInterval: '1s',
        window: '10s',
      },
    });
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'proc-svc' },
      spec: {
        modelName: MODEL,
        inferenceCacheRef: 'proc-cache',
        runtime: { engine: 'simulator', replicas: 2 },
      },
    });
    // The first replica's state file is written as soon as its process spawned: kill the worker right then.
    await until('a replica process started', async () => (records().length >= 1 ? true : undefined), 60_000);
    await worker.kill('SIGKILL');
    // The rollout was cut short: the service is not Ready (a kill after the rollout would test nothing).
    assert.notEqual(serviceStatus().readyReplicas, 2, 'the rollout had finished before the kill');
    const before = new Map(records().map((r) => [r.name, r.pid]));
    worker = await startWorker(env, workerEnv());
    const status = await until(
      'the service Ready with two endpoints',
      async () => {
        const s = serviceStatus();
        return s.readyReplicas === 2 && s.endpoints?.length === 2 ? s : undefined;
      },
      120_000,
    );
    const now = records();
    assert.equal(now.length, 2);
    for (const [name, pid] of before)
      assert.equal(now.find((r) => r.name === name)?.pid, pid, `${name} was started again`);
    for (const r of now) assert.equal(processesOnPort(r.port).length, 1, `processes on port ${r.port}`);
    assert.equal(
      simulatorsOfModel().length,
      2,
      `simulator processes of the model: ${describeSimulators()}; records: ${JSON.stringify(now.map((r) => [r.name, r.pid, r.port]))}`,
    );
    // The endpoints the gateway reads are the processes.
    assert.deepEqual(
      status.endpoints!.map((e) => e.url).sort(),
      now.map((r) => `http://127.0.0.1:${r.port}`).sort(),
    );
    for (const e of status.endpoints!) assert.equal((await fetch(`${e.url}/health`)).status, 200);
  });

  it('a worker killed while the cache loop counts polls toward an eviction: exactly one eviction afterwards', async () => {
    const endpoints = serviceStatus().endpoints!;
    const first = endpoints.find((e) => e.name.endsWith('-0')) ?? endpoints[0]!;
    const pids = records().map((r) => r.pid);
    const stop = steadyLoad(first.url, MODEL, 4);
    try {
      // The loop has seen the replica over the threshold (1 of the 3 sustained polls): kill the worker now.
      await until(
        'KV usage over the threshold in status',
        async () => ((cacheStatus().maxKvUsage ?? 0) >= 0.05 ? true : undefined),
        60_000,
      );
      assert.equal(cacheStatus().evictions ?? 0, 0);
      await worker!.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 2000));
      worker = await startWorker(env, workerEnv());
      const status = await until(
        'an eviction',
        async () => {
          const s = cacheStatus();
          return (s.evictions ?? 0) >= 1 ? s : undefined;
        },
        // A step the killed worker had started is retried after its 30 s start-to-close timeout.
        90_000,
      );
      assert.equal(status.lastAction?.target, first.name);
      assert.match(status.lastAction!.reason, /stayed at or above evictionThreshold 5\.0% for 3 polls/);
      // Still inside the 30 s cooldown: no second eviction.
      await new Promise((r) => setTimeout(r, 5000));
      assert.equal(cacheStatus().evictions, 1);
    } finally {
      await stop();
    }
    const history = infctl('history', `InferenceCache/${NS}/proc-cache`);
    assert.equal(history.code, 0, history.err);
    assert.equal(history.out.match(/evictCache/g)?.length, 1, history.out);
    // The eviction was a sleep/wake cycle, not a restart: the same processes serve.
    assert.deepEqual(
      records().map((r) => r.pid),
      pids,
    );
    assert.equal(simulatorsOfModel().length, 2);
  });

  it('a PrefillDecodingDisaggregation splits the processes into prefill and decode and pairs their endpoints', async () => {
    const pdd = {
      apiVersion: API,
      kind: 'PrefillDecodingDisaggregation',
      metadata: { name: 'proc-pdd' },
      spec: { modelName: MODEL, prefill: { replicas: 1 }, decode: { replicas: 1 } },
    };
    applyDoc(kubectl, NS, pdd);
    const patched = kubectl([
      'patch',
      'inferencecache',
      'proc-cache',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { pddRef: 'proc-pdd' } }),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    const roles = await until(
      'one prefill and one decode endpoint',
      async () => {
        const endpoints = serviceStatus().endpoints ?? [];
        const roles = endpoints
          .filter((e) => e.ready)
          .map((e) => (e as { role?: string }).role)
          .sort();
        return roles.join(',') === 'decode,prefill' ? endpoints : undefined;
      },
      90_000,
    );
    const status = await until(
      'the PDD pairs the two endpoints',
      async () => {
        const s = get<{ prefillPod?: string; decodeTargetPod?: string }>(
          'prefilldecodingdisaggregation',
          'proc-pdd',
        );
        return s.prefillPod && s.decodeTargetPod ? s : undefined;
      },
      30_000,
    );
    const named = (role: string) => roles.find((e) => (e as { role?: string }).role === role)?.name;
    assert.equal(status.prefillPod, named('prefill'));
    assert.equal(status.decodeTargetPod, named('decode'));
    assert.equal(simulatorsOfModel().length, 2, 'the old replicas were replaced, not kept beside the new');
  });

  it('an InferenceService whose engine is not installed is Degraded with EngineMissing, not retried forever', async () => {
    // No vllm on this machine's PATH: the original InferenceService's engine cannot be spawned.
    const missing = '/nonexistent/vllm';
    await worker?.kill();
    worker = await startWorker(env, { ...workerEnv(), INFCTL_VLLM: missing });
    applyDoc(kubectl, NS, {
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'no-engine' },
      spec: { modelName: 'no-engine-model', runtime: { engine: 'vllm' } },
    });
    const degraded = await until(
      'no-engine Degraded',
      async () =>
        get<{ conditions?: { type: string; status: string; reason: string; message: string }[] }>(
          'inferenceservice',
          'no-engine',
        ).conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'),
      30_000,
    );
    assert.equal(degraded.reason, 'EngineMissing');
    assert.ok(degraded.message.includes(`"${missing}" is not installed on the worker`), degraded.message);
    const history = infctl('history', `InferenceService/${NS}/no-engine`).out;
    assert.equal(history.match(/ applyDeployment /g)?.length, 1, history);
  });
});
