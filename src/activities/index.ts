/**
 * Every side effect of the workflows, one function per step; names read as steps in the Temporal UI. Each
 * module exports its activities bound to what they need; this file only puts them together, with their errors
 * classified at the boundary. Workflows import only the type of this object.
 */
import { DEFAULT_SERVICE_POLICY, type ServicePolicy } from '../api/index.ts';
import type { KubeClient } from '../kube/client.ts';
import type { GatewayRuntime } from '../runtime/gateway-runtime.ts';
import type { ReplicaRuntime } from '../runtime/replica-runtime.ts';
import { classified } from './failures.ts';
import type { GatewayAdmin } from './gateway/ownership.ts';
import { transferActivities } from './gateway/transfer.ts';
import { dependentActivities, listingServices } from './kubernetes/dependents.ts';
import type { ServiceReader } from './kubernetes/service-cache.ts';
import { resourceActivities } from './kubernetes/resources.ts';
import { serviceActivities } from './kubernetes/service-activities.ts';
import { runtimeActivities } from './runtime-activities.ts';
import { cacheActivities } from './vllm/cache-actions.ts';
import { renderActivities } from './vllm/render.ts';
import { specDecodeActivities } from './vllm/spec-decode.ts';

export function createActivities(
  kube: KubeClient,
  /** Where the replicas run: Kubernetes or local processes (the worker decides; see worker.ts). */
  runtime: ReplicaRuntime,
  /** Deploys the gateways the InferenceGateways describe: on Kubernetes, or as local processes. */
  gateways: GatewayRuntime,
  /** The gateways' admin APIs, for cache transfers (the worker reads them from its environment). */
  gatewayAdmin?: GatewayAdmin,
  /** What InferenceService authors may ask for beyond serving (the worker reads it from its environment). */
  policy: ServicePolicy = DEFAULT_SERVICE_POLICY,
  /** Where the InferenceServices of a model are read: the worker's informer cache, else a LIST per call. */
  services: ServiceReader = listingServices(kube),
) {
  return classified({
    ...serviceActivities(kube, policy),
    ...renderActivities,
    ...runtimeActivities(runtime, gateways),
    ...resourceActivities(kube),
    ...dependentActivities(kube, services),
    ...cacheActivities,
    ...transferActivities(kube, gateways, gatewayAdmin),
    ...specDecodeActivities(services),
  });
}

export type Activities = ReturnType<typeof createActivities>;
