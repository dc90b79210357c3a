/** `infctl worker`, `infctl controller` and the per-resource commands (status, overrides, history). */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Server } from 'node:http';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { Controller } from '../controller/controller.ts';
import { connectionOptions, temporalClient, temporalEnv } from '../temporal/connection.ts';
import { KubeClient } from '../kube/client.ts';
import { createWorker } from '../worker/worker.ts';
import { KINDS } from '../api/index.ts';
import {
  forceEvictUpdate,
  forceTransferUpdate,
  pauseActionsUpdate,
  resumeActionsUpdate,
  setPolicyUpdate,
  type SetPolicyRequest,
  pauseUpdate,
  resumeUpdate,
  rollbackUpdate,
  stateQuery,
  type EntitySnapshot,
} from '../workflows/messages.ts';
import { ControllerMetrics } from '../metrics/controller-metrics.ts';
import { parseAddress, serveHealth } from '../metrics/serve.ts';
import { temporalReachable } from '../health/checks.ts';
import { freePort } from './dev/processes.ts';
import { workflowIdFor } from '../temporal/start.ts';
import { renderHistory } from './history.ts';

/**
 * `infctl worker`. With INFCTL_WORKER_METRICS_ADDRESS (host:port) one listener serves /healthz, /readyz
 * (Temporal answers and the worker runs) and /metrics: the SDK's own metrics and the workflows' (the cache
 * loop's decisions), which the SDK's Prometheus exporter serves on a loopback port of its own.
 */
export async function runWorker(): Promise<number> {
  const address = process.env.INFCTL_WORKER_METRICS_ADDRESS;
  const env = temporalEnv();
  // Filled in as they start; the checks read them (not ready until both are there).
  const running: { connection?: NativeConnection; worker?: Worker } = {};
  let server: Server | undefined;
  if (address) {
    parseAddress(address, 'INFCTL_WORKER_METRICS_ADDRESS');
    const sdkMetrics = `127.0.0.1:${await freePort()}`;
    Runtime.install({
      telemetryOptions: {
        metrics: {
          // Prometheus conventions: `_total` counters, durations in seconds with the unit in the name.
          prometheus: {
            bindAddress: sdkMetrics,
            countersTotalSuffix: true,
            unitSuffix: true,
            useSecondsForDurations: true,
            histogramBucketOverrides: {
              inference_service_rollout_duration_seconds: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200],
            },
          },
        },
      },
    });
    server = await serveHealth(address, {
      checks: {
        temporal: temporalReachable(() => running.connection, env.TEMPORAL_ADDRESS),
        worker: () => {
          const state = running.worker?.getState();
          return state === 'RUNNING'
            ? { ok: true, detail: `polling task queue "${env.TEMPORAL_TASK_QUEUE}"` }
            : { ok: false, detail: state ? `worker is ${state}` : 'starting (loading the workflow bundle)' };
        },
      },
      metrics: async () => (await fetch(`http://${sdkMetrics}/metrics`)).text(),
    });
    console.log(`worker health and metrics on http://${address} (/healthz, /readyz, /metrics)`);
  }
  running.connection = await NativeConnection.connect(connectionOptions(env));
  const { worker, close } = await createWorker({ env, connection: running.connection });
  running.worker = worker;
  console.log(
    `worker polling task queue "${env.TEMPORAL_TASK_QUEUE}" on ${env.TEMPORAL_ADDRESS} (namespace ${env.TEMPORAL_NAMESPACE})`,
  );
  try {
    await worker.run();
  } finally {
    await close();
    server?.close();
  }
  console.log('worker stopped');
  return 0;
}

/**
 * `infctl controller`. With INFCTL_CONTROLLER_METRICS_ADDRESS (host:port) one listener serves /healthz,
 * /readyz (Temporal answers and every kind's informer has listed and watches) and /metrics.
 */
export async function runController(options: {
  pollIntervalMs?: number;
  resyncMs?: number;
}): Promise<number> {
  const env = temporalEnv();
  const metrics = new ControllerMetrics();
  const address = process.env.INFCTL_CONTROLLER_METRICS_ADDRESS;
  const running: { temporal?: Client; controller?: Controller } = {};
  const server = address
    ? await serveHealth(address, {
        checks: {
          temporal: temporalReachable(() => running.temporal?.connection, env.TEMPORAL_ADDRESS),
          informers: () => running.controller?.informersSynced() ?? { ok: false, detail: 'starting' },
        },
        metrics: () => metrics.registry.metrics(),
      })
    : undefined;
  if (address)
    console.log(`controller health and metrics on http://${address} (/healthz, /readyz, /metrics)`);
  running.temporal = await temporalClient(env);
  const controller = new Controller({
    metrics,
    kube: new KubeClient(),
    temporal: running.temporal,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    ...(process.env.INFCTL_WATCH_NAMESPACE ? { namespace: process.env.INFCTL_WATCH_NAMESPACE } : {}),
    ...options,
  });
  running.controller = controller;
  await controller.start();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await controller.stop();
  server?.close();
  await running.temporal.connection.close();
  console.log('controller stopped');
  return 0;
}

/** Accepts `Kind/namespace/name`, `Kind/name` (namespace default) or a short name such as `infsvc/ns/name`. */
function parseResourceRef(text: string | undefined): {
  kind: string;
  namespace: string;
  name: string;
} {
  const parts = (text ?? '').split('/');
  const [kindText, a, b] = parts;
  const info = KINDS.find(
    (k) =>
      k.kind.toLowerCase() === kindText?.toLowerCase() ||
      k.plural === kindText ||
      k.singular === kindText ||
      k.shortNames.includes(kindText ?? ''),
  );
  if (!info || parts.length < 2 || parts.length > 3 || !a || (parts.length === 3 && !b)) {
    throw new Error(
      `expected <kind>/<namespace>/<name> (for example InferenceService/default/llama3-chatbot-service), got "${text ?? ''}"`,
    );
  }
  return parts.length === 3
    ? { kind: info.kind, namespace: a, name: b as string }
    : { kind: info.kind, namespace: 'default', name: a };
}

async function handleFor(client: Client, ref: string | undefined): Promise<WorkflowHandle> {
  const r = parseResourceRef(ref);
  return client.workflow.getHandle(workflowIdFor(r.kind, r.namespace, r.name));
}

function printSnapshot(s: EntitySnapshot): void {
  console.log(`${s.kind}/${s.namespace}/${s.name}`);
  console.log(`  phase        ${s.phase}${s.message ? ` — ${s.message}` : ''}`);
  console.log(`  generation   ${s.generation} (reconciled ${s.reconciledGeneration})`);
  console.log(`  paused       ${s.paused ? `yes${s.pauseReason ? ` (${s.pauseReason})` : ''}` : 'no'}`);
  for (const [k, v] of Object.entries(s.details)) console.log(`  ${k.padEnd(12)} ${JSON.stringify(v)}`);
  if (s.ignoredSignals.length) console.log(`  ignored signals:\n    ${s.ignoredSignals.join('\n    ')}`);
}

const isCache = (ref: string | undefined) =>
  ref !== undefined && parseResourceRef(ref).kind === 'InferenceCache';

/** `key=value` words into a setPolicy request; numbers for the thresholds, strings for durations. */
export function parsePolicyArgs(words: string[]): SetPolicyRequest {
  if (words.length === 1 && words[0] === 'clear') return { clear: true };
  const request: SetPolicyRequest = {};
  for (const word of words) {
    const [key, ...rest] = word.split('=');
    const value = rest.join('=');
    if (!key || rest.length === 0) throw new Error(`set-policy: expected key=value, got "${word}"`);
    switch (key) {
      case 'thresholdHitRate':
      case 'evictionThreshold':
      case 'sustainedPolls': {
        const n = Number(value);
        if (value === '' || !Number.isFinite(n))
          throw new Error(`set-policy: ${key} takes a number, not "${value}"`);
        request[key] = n;
        break;
      }
      case 'cooldown':
      case 'expiresIn':
      case 'reason':
        request[key] = value;
        break;
      default:
        throw new Error(
          `set-policy: unknown key "${key}" (thresholdHitRate, evictionThreshold, sustainedPolls, cooldown, expiresIn, reason)`,
        );
    }
  }
  return request;
}

export async function runResourceCommand(command: string, args: string[]): Promise<number> {
  const client = await temporalClient();
  try {
    const handle = await handleFor(client, args[0]);
    switch (command) {
      case 'status':
        printSnapshot(await handle.query(stateQuery));
        return 0;
      case 'pause':
        printSnapshot(
          await handle.executeUpdate(pauseUpdate, {
            args: [{ ...(args[1] ? { reason: args.slice(1).join(' ') } : {}) }],
          }),
        );
        return 0;
      case 'resume':
        printSnapshot(await handle.executeUpdate(resumeUpdate));
        return 0;
      case 'rollback': {
        const revision = Number(args[1]);
        if (!Number.isInteger(revision) || revision < 1)
          throw new Error('usage: infctl rollback <kind>/<namespace>/<name> <revision>');
        printSnapshot(await handle.executeUpdate(rollbackUpdate, { args: [{ revision }] }));
        return 0;
      }
      case 'history':
        process.stdout.write(await renderHistory(handle));
        return 0;
      case 'evict': {
        if (!isCache(args[0]) || !args[1])
          throw new Error('usage: infctl evict InferenceCache/<namespace>/<name> <replica> [reason]');
        const action = await handle.executeUpdate(forceEvictUpdate, {
          args: [{ replica: args[1], ...(args[2] ? { reason: args.slice(2).join(' ') } : {}) }],
        });
        console.log(JSON.stringify(action, null, 2));
        return 0;
      }
      case 'transfer': {
        if (!isCache(args[0]) || !args[1] || !args[2])
          throw new Error('usage: infctl transfer InferenceCache/<namespace>/<name> <from> <to> [reason]');
        const action = await handle.executeUpdate(forceTransferUpdate, {
          args: [{ from: args[1], to: args[2], ...(args[3] ? { reason: args.slice(3).join(' ') } : {}) }],
        });
        console.log(JSON.stringify(action, null, 2));
        return 0;
      }
      case 'set-policy': {
        if (!isCache(args[0]) || args.length < 2)
          throw new Error(
            'usage: infctl set-policy InferenceCache/<namespace>/<name> key=value... (thresholdHitRate, evictionThreshold, sustainedPolls, cooldown, expiresIn, reason) | clear',
          );
        const answer = await handle.executeUpdate(setPolicyUpdate, {
          args: [parsePolicyArgs(args.slice(1))],
        });
        console.log(JSON.stringify(answer, null, 2));
        return 0;
      }
      case 'pause-actions':
      case 'resume-actions': {
        if (!isCache(args[0])) throw new Error(`usage: infctl ${command} InferenceCache/<namespace>/<name>`);
        const answer =
          command === 'pause-actions'
            ? await handle.executeUpdate(pauseActionsUpdate, {
                args: [{ ...(args[1] ? { reason: args.slice(1).join(' ') } : {}) }],
              })
            : await handle.executeUpdate(resumeActionsUpdate);
        console.log(JSON.stringify(answer, null, 2));
        return 0;
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      process.stderr.write(
        `no workflow for ${args[0]}: is the resource applied and the controller running?\n`,
      );
      return 1;
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}
