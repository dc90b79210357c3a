/**
 * The InferenceGateway on the process runtime: the worker runs its gateway as a local `infctl gateway`
 * process, on spec.listener.port or a free port while that one is taken, publishes the address and admin URL
 * in status, finds the admin API from there for a transfer, restarts the process when it dies, moves it to
 * the spec's port once free, and stops it when the InferenceGateway is deleted.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { ProcessGatewayRuntime } from '../../src/runtime/process/gateway-processes.ts';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.ts';
import { applyDoc } from '../helpers/cache.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { infctlAsyncFor, startController, startWorker, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { deleteProductResources, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-gwproc-${process.pid}`;
const QUEUE = `e2e-gwproc-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
const CACHE = `InferenceCache/${NS}/gw-cache`;
const REPLICAS = mkdtempSync(join(tmpdir(), 'infctl-gwproc-replicas-'));
const GATEWAYS = mkdtempSync(join(tmpdir(), 'infctl-gwproc-gateways-'));
const TOKEN_FILE = join(GATEWAYS, NS, 'llm-gateway.token');
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let worker: EngineProcess | undefined;
let controller: EngineProcess | undefined;
/** Holds the spec's listener port, so the gateway has to take another one first. */
let holder: Server | undefined;
let specPort = 0;
let firstPid = 0;

interface GatewayStatus {
  address?: string;
  adminUrl?: string;
  adminSecret?: string;
  readyReplicas?: number;
}
const gatewayStatus = (): GatewayStatus => {
  const r = kubectl(['get', 'inferencegateway', 'llm-gateway', '-n', NS, '-o', 'jsonpath={.status}']);
  return r.code === 0 && r.stdout ? (JSON.parse(r.stdout) as GatewayStatus) : {};
};
/** The gateway processes whose command line names this InferenceGateway's token file. */
const gatewayPids = () =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv[argv.indexOf('--admin-token-file') + 1] === TOKEN_FILE && argv.includes('gateway');
      } catch {
        return false;
      }
    })
    .map(Number);
const answers = async (address: string) =>
  (await fetch(`${address}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.ok ===
  true;
const chat = (address: string, content: string) =>
  fetch(`${address}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama3-70b', max_tokens: 4, messages: [{ role: 'user', content }] }),
    signal: AbortSignal.timeout(30_000),
  });
const diagnosis = () =>
  [
    JSON.stringify(gatewayStatus()),
    existsSync(join(GATEWAYS, NS, 'llm-gateway.log'))
      ? readFileSync(join(GATEWAYS, NS, 'llm-gateway.log'), 'utf8').slice(-2000)
      : 'no gateway log',
    worker?.output().slice(-2000),
  ].join('\n');

describe('the InferenceGateway on the process runtime', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    specPort = await freePort();
    holder = createServer();
    await new Promise<void>((resolve) => holder!.listen(specPort, '127.0.0.1', resolve));
    controller = await startController(env, 1000, { TEMPORAL_TASK_QUEUE: QUEUE, INFCTL_WATCH_NAMESPACE: NS });
    worker = await startWorker(env, {
      TEMPORAL_TASK_QUEUE: QUEUE,
      INFCTL_RUNTIME: 'process',
      INFCTL_PROCESS_DIR: REPLICAS,
      INFCTL_GATEWAY_DIR: GATEWAYS,
    });
  });
  after(async () => {
    // Deleted while the worker runs, so its workflows stop their processes and release the finalizers.
    deleteProductResources(kubectl, NS);
    await worker?.kill();
    await controller?.kill();
    await new ProcessGatewayRuntime({ dir: GATEWAYS, infctl: [] }).deleteGateway(NS, 'llm-gateway');
    new ProcessRuntime({ dir: REPLICAS, simulator: '' }).deleteOwned(NS, 'llama3-chatbot-service');
    holder?.close();
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    rmSync(REPLICAS, { recursive: true, force: true });
    rmSync(GATEWAYS, { recursive: true, force: true });
    await releaseDevEnvironment();
  });

  it('runs the example as a local gateway process on a free port while the spec port is taken', async () => {
    applyDoc(kubectl, NS, {
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'llama3-chatbot-service' },
      spec: {
        modelName: 'llama3-70b',
        inferenceCacheRef: 'gw-cache',
        runtime: { engine: 'simulator', replicas: 2 },
      },
    });
    // Only forced actions: no hit rate is below 0, no KV usage above 1.
    applyDoc(kubectl, NS, {
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'gw-cache' },
      spec: {
        modelName: 'llama3-70b',
        pollInterval: '1s',
        kvCacheTransferPolicy: { thresholdHitRate: 0, evictionThreshold: 1 },
      },
    });
    const example = parse(readFileSync('examples/original/inference-gateway.yaml', 'utf8')) as {
      spec: Record<string, unknown>;
    };
    applyDoc(kubectl, NS, { ...example, spec: { ...example.spec, listener: { port: specPort } } });
    const status = await until(
      'llm-gateway publishes a gateway that answers',
      async () => {
        const s = gatewayStatus();
        return s.address && s.adminUrl && (await answers(s.address)) ? s : undefined;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnosis()}`);
    });
    assert.match(status.address!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(status.address, `http://127.0.0.1:${specPort}`, 'the spec port is taken');
    assert.match(status.adminUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(status.adminSecret, undefined, 'a local gateway keeps its token in a file');
    assert.equal(statSync(TOKEN_FILE).mode & 0o777, 0o600);
    assert.equal(readFileSync(TOKEN_FILE, 'utf8').trim().length, 64);
    const unauthorized = await fetch(`${status.adminUrl}/admin/hot-prefixes?model=llama3-70b`);
    assert.equal(unauthorized.status, 401);
    const pids = gatewayPids();
    assert.equal(pids.length, 1, `one gateway process: ${pids.join(', ')}`);
    firstPid = pids[0]!;
  });

  it('answers a chat request through the gateway from the simulator-backed InferenceService', async () => {
    const address = gatewayStatus().address!;
    const answer = await until(
      'a chat answer through the gateway',
      async () => {
        const res = await chat(address, 'Hello there').catch(() => undefined);
        return res?.status === 200 ? ((await res.json()) as { choices: unknown[] }) : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnosis()}`);
    });
    assert.ok(answer.choices.length > 0);
  });

  it('the worker finds the admin API from the status: a forced transfer moves the prefixes the gateway saw', async () => {
    const address = gatewayStatus().address!;
    const served = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const res = await chat(
        address,
        `document ${i}: ${'the quick brown fox jumps over the lazy dog '.repeat(40)}`,
      );
      assert.equal(res.status, 200);
      await res.text();
      const endpoint = res.headers.get('x-inference-endpoint') ?? '';
      served.set(endpoint, (served.get(endpoint) ?? 0) + 1);
    }
    const [from] = [...served.entries()].sort((a, b) => b[1] - a[1])[0]!;
    const replicas = await until(
      'the cache loop reports both replicas',
      async () => {
        const r = kubectl([
          'get',
          'inferencecache',
          'gw-cache',
          '-n',
          NS,
          '-o',
          'jsonpath={.status.replicas}',
        ]);
        const list = r.stdout ? (JSON.parse(r.stdout) as { name: string }[]) : [];
        return list.length === 2 ? list.map((x) => x.name) : undefined;
      },
      60_000,
    );
    const to = replicas.find((n) => n !== from)!;
    assert.ok(replicas.includes(from), `${from} is one of ${replicas.join(', ')}`);
    const r = await infctlAsyncFor(env)('transfer', CACHE, from, to, 'e2e');
    assert.equal(r.code, 0, `${r.err}\n${diagnosis()}`);
    assert.match(r.out, /moved [1-9]\d* hot prefixes/, r.out);
    const token = readFileSync(TOKEN_FILE, 'utf8').trim();
    const owned = (await (
      await fetch(`${gatewayStatus().adminUrl}/admin/ownership?model=llama3-70b`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { entries: unknown[] };
    assert.ok(owned.entries.length > 0, 'the gateway holds the shifted ownership');
  });

  it('keeps one process across polls, restarts it when it dies, moves to the spec port once free, stops on delete', async () => {
    assert.deepEqual(gatewayPids(), [firstPid], 'the same process after many polls');
    const before = gatewayStatus().address!;
    process.kill(firstPid, 'SIGKILL');
    const restarted = await until(
      'a new gateway process',
      async () => {
        const pids = gatewayPids();
        return pids.length === 1 && pids[0] !== firstPid && (await answers(before)) ? pids[0] : undefined;
      },
      30_000,
    );
    assert.ok(restarted);
    assert.equal(gatewayStatus().address, before, 'restarted on the port it had');

    await new Promise<void>((resolve) => holder!.close(() => resolve()));
    holder = undefined;
    await until(
      'the gateway on the spec port',
      async () => {
        const s = gatewayStatus();
        return s.address === `http://127.0.0.1:${specPort}` && (await answers(s.address)) ? true : undefined;
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnosis()}`);
    });
    assert.equal(gatewayPids().length, 1);

    const deleted = kubectl(['delete', 'inferencegateway', 'llm-gateway', '-n', NS, '--timeout=60s']);
    assert.equal(deleted.code, 0, deleted.stderr);
    await until(
      'the gateway process gone',
      async () => (gatewayPids().length === 0 ? true : undefined),
      15_000,
    );
    assert.equal(existsSync(TOKEN_FILE), false, 'the token is forgotten');
    assert.equal(await answers(`http://127.0.0.1:${specPort}`), false);
  });
});
