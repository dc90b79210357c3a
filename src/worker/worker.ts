import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { join } from 'node:path';
import { createActivities } from '../activities/index.ts';
import { servicePolicyFromEnv } from '../api/index.ts';
import type { GatewayAdmin } from '../activities/gateway/ownership.ts';
import { binary, REPO_ROOT, requireTools } from '../tools/components.ts';
import { serviceEvents } from '../activities/kubernetes/events.ts';
import { KubernetesRuntime } from '../runtime/kubernetes/kubernetes-runtime.ts';
import { ProcessRuntime } from '../runtime/process/process-runtime.ts';
import type { ReplicaRuntime } from '../runtime/replica-runtime.ts';
import { connectionOptions, temporalEnv, type TemporalEnv } from '../temporal/connection.ts';
import { KubeClient } from '../kube/client.ts';
import type { GatewayRuntime } from '../runtime/gateway-runtime.ts';
import { ProcessGatewayRuntime } from '../runtime/process/gateway-processes.ts';
import { KubernetesGatewayRuntime } from '../runtime/kubernetes/gateway-deployment.ts';
import { ServiceCache } from '../activities/kubernetes/service-cache.ts';
import { PodCache } from '../runtime/kubernetes/pod-cache.ts';
import { listingServices } from '../activities/kubernetes/dependents.ts';
import { workerSizingFromEnv } from './worker-sizing.ts';

const COMPILED = !import.meta.url.endsWith('.ts');
const WORKFLOWS = fileURLToPath(new URL(`../workflows/index.${COMPILED ? 'js' : 'ts'}`, import.meta.url));
/** Written by `npm run build` (scripts/build-workflow-bundle.ts) into dist/, beside the compiled code. */
const PREBUILT_BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

let bundle: Promise<WorkflowBundleOption> | undefined;

/** The workflow code: compiled, the bundle prebuilt at build time when present; else bundled once per process. */
function workflowBundle(): Promise<WorkflowBundleOption> {
  bundle ??=
    COMPILED && existsSync(PREBUILT_BUNDLE)
      ? Promise.resolve({ codePath: PREBUILT_BUNDLE })
      : bundleWorkflowCode({
          workflowsPath: WORKFLOWS,
          logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
        });
  return bundle;
}

/** Where replicas (and deployed gateways) run: Kubernetes (default) or local processes (INFCTL_RUNTIME=process). */
function onProcesses(): boolean {
  return (process.env.INFCTL_RUNTIME ?? 'kubernetes') === 'process';
}

function runtimeFromEnvironment(kube: KubeClient, pods: PodCache | undefined): ReplicaRuntime {
  if (!onProcesses()) return new KubernetesRuntime(kube, serviceEvents(kube), pods ? { pods } : {});
  const tools = requireTools(['llm-d-inference-sim']);
  return new ProcessRuntime({
    dir: process.env.INFCTL_PROCESS_DIR ?? join(process.env.INFCTL_STATE_DIR ?? '.state/dev', 'replicas'),
    simulator: binary(tools, 'llm-d-inference-sim'),
    vllm: process.env.INFCTL_VLLM,
  });
}

/** How this worker runs `infctl`: node and the compiled entry point, or the checkout's bin/infctl. */
const INFCTL = COMPILED
  ? [process.execPath, fileURLToPath(new URL('../cli/main.js', import.meta.url))]
  : [join(REPO_ROOT, 'bin', 'infctl')];

/**
 * Who deploys the InferenceGateways' gateways: on Kubernetes, Deployments of INFCTL_GATEWAY_IMAGE (the chart
 * sets its own image) whose ServiceAccounts are bound to INFCTL_GATEWAY_CLUSTER_ROLE; on the process runtime
 * local `infctl gateway` processes (state in INFCTL_GATEWAY_DIR, default `<state dir>/gateways`), reading the
 * API server with INFCTL_GATEWAY_KUBECONFIG when set, else with the worker's own credentials.
 */
function gatewaysFromEnvironment(kube: KubeClient): GatewayRuntime {
  if (onProcesses())
    return new ProcessGatewayRuntime({
      dir: process.env.INFCTL_GATEWAY_DIR ?? join(process.env.INFCTL_STATE_DIR ?? '.state/dev', 'gateways'),
      infctl: INFCTL,
      ...(process.env.INFCTL_GATEWAY_KUBECONFIG
        ? { env: { KUBECONFIG: process.env.INFCTL_GATEWAY_KUBECONFIG } }
        : {}),
    });
  return new KubernetesGatewayRuntime(kube, {
    image: process.env.INFCTL_GATEWAY_IMAGE || 'inference-controller:latest',
    clusterRole: process.env.INFCTL_GATEWAY_CLUSTER_ROLE || 'inference-controller-gateway',
    ...(process.env.INFCTL_GATEWAY_IMAGE_PULL_POLICY
      ? { imagePullPolicy: process.env.INFCTL_GATEWAY_IMAGE_PULL_POLICY }
      : {}),
  });
}

/**
 * Gateways run by hand (dev, `make demo`): INFCTL_GATEWAY_ADMIN_URLS (comma-separated) and _TOKEN. Without
 * them the worker finds the deployed gateways from the InferenceGateways' status.adminUrl.
 */
function gatewayAdminFromEnvironment(): GatewayAdmin | undefined {
  const urls = (process.env.INFCTL_GATEWAY_ADMIN_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  const token = process.env.INFCTL_GATEWAY_ADMIN_TOKEN;
  if (urls.length === 0) return undefined;
  if (!token) throw new Error('INFCTL_GATEWAY_ADMIN_URLS is set but INFCTL_GATEWAY_ADMIN_TOKEN is not');
  return { urls, token };
}

/** A worker and what it started beside it (the InferenceService cache), stopped together once it has run. */
export interface EngineWorker {
  worker: Worker;
  close(): Promise<void>;
}

export async function createWorker(
  options: { env?: TemporalEnv; kube?: KubeClient; connection?: NativeConnection } = {},
): Promise<EngineWorker> {
  const env = options.env ?? temporalEnv();
  const sizing = workerSizingFromEnv();
  const connection = options.connection ?? (await NativeConnection.connect(connectionOptions(env)));
  const kube = options.kube ?? new KubeClient();
  // Informer caches, so the per-poll reads of many workflows read memory (issue 16).
  const watched = process.env.INFCTL_WATCH_NAMESPACE ? { namespace: process.env.INFCTL_WATCH_NAMESPACE } : {};
  const services = await ServiceCache.start(kube, listingServices(kube), watched);
  let pods: PodCache | undefined;
  const stopCaches = async () => {
    await services.stop();
    await pods?.stop();
  };
  let worker: Worker;
  try {
    if (!onProcesses()) pods = await PodCache.start(kube, watched);
    worker = await Worker.create({
      ...sizing,
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: createActivities(
        kube,
        runtimeFromEnvironment(kube, pods),
        gatewaysFromEnvironment(kube),
        gatewayAdminFromEnvironment(),
        servicePolicyFromEnv(),
        services,
      ),
      // SIGINT/SIGTERM drain in-flight tasks before the process exits.
      shutdownGraceTime: '10 seconds',
    });
  } catch (err) {
    await stopCaches();
    throw err;
  }
  return {
    worker,
    close: async () => {
      await stopCaches();
      await connection.close();
    },
  };
}
