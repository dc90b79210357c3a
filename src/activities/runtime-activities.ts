/**
 * The runtimes' activities: where the replicas run (KubernetesRuntime in runtime/kubernetes/kubernetes-runtime.ts
 * on a cluster, ProcessRuntime in runtime/process/process-runtime.ts for local processes) and who deploys the
 * gateways (KubernetesGatewayRuntime, or ProcessGatewayRuntime's local processes). The worker picks them (worker.ts); the activities call
 * them without knowing which.
 */
import { Context } from '@temporalio/activity';
import type { InferenceGatewaySpec, ServingPlan } from '../api/index.ts';
import type { GatewayRuntime } from '../runtime/gateway-runtime.ts';
import type { ReplicaRuntime, RolloutHooks } from '../runtime/replica-runtime.ts';

/** The running activity's heartbeat and cancellable sleep, for a runtime's rollout wait. */
const activityHooks = (): RolloutHooks => ({
  heartbeat: (details) => Context.current().heartbeat(details),
  sleep: (ms) => Context.current().sleep(ms),
});

export const runtimeActivities = (runtime: ReplicaRuntime, gateways: GatewayRuntime) => ({
  applyDeployment: (input: { plan: ServingPlan; revision: number }) =>
    runtime.apply(input.plan, input.revision),
  awaitRollout: (input: { plan: ServingPlan; revision: number; timeoutMs: number }) =>
    runtime.awaitReady(input.plan, input.revision, input.timeoutMs, activityHooks()),
  observeEndpoints: (input: { plan: ServingPlan }) => runtime.observe(input.plan),
  deleteOwnedObjects: async (input: { namespace: string; name: string }) =>
    runtime.deleteOwned(input.namespace, input.name),
  /** The gateway an InferenceGateway describes: Deployment, Service, admin Secret, ServiceAccount. */
  deployGateway: (input: { namespace: string; name: string; spec: InferenceGatewaySpec }) =>
    gateways.deployGateway(input),
  /** Stops the gateway deployGateway started (the process runtime's; on Kubernetes owner references do it). */
  deleteGateway: (input: { namespace: string; name: string }) =>
    gateways.deleteGateway(input.namespace, input.name),
});
