import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  NativeConnection,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { connectionOptions, temporalEnv, type TemporalEnv } from '../controller/temporal-config.ts';
import { KubeClient } from '../runtime/kubernetes/kube-client.ts';

const WORKFLOWS = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow code, bundled once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  });
  return bundle;
}

export async function createWorker(options: { env?: TemporalEnv; kube?: KubeClient } = {}): Promise<Worker> {
  const env = options.env ?? temporalEnv();
  const connection = await NativeConnection.connect(connectionOptions(env));
  return Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: createActivities(options.kube ?? new KubeClient()),
    // SIGINT/SIGTERM drain in-flight tasks before the process exits.
    shutdownGraceTime: '10 seconds',
  });
}
