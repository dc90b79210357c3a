/**
 * Every side effect of the workflows, one function per step; names read as steps in the Temporal UI.
 * Workflows import only the type of this object.
 */
import type { InferenceGatewaySpec, InferenceServiceSpec, ServingPlan } from '../api/index.ts';
import { KubeClient } from '../runtime/kubernetes/kube-client.ts';
import { pairPrefillDecode, resolveRoutes, servicesForModel } from './kubernetes/dependents.ts';
import {
  releaseFinalizer,
  writeResourceStatus,
  type ResourceKey,
  type StatusUpdate,
} from './kubernetes/resources.ts';
import {
  applyPlan,
  awaitPlanRollout,
  deleteOwned,
  observePlan,
  resolveServiceInputs,
} from './kubernetes/service-activities.ts';
import { renderPlan, type RenderInput } from './vllm/render.ts';

export function createActivities(kube: KubeClient = new KubeClient()) {
  return {
    async resolveServiceInputs(input: { namespace: string; name: string; spec: InferenceServiceSpec }) {
      return resolveServiceInputs(kube, input.namespace, input.name, input.spec);
    },
    async renderVllmArgs(input: RenderInput): Promise<ServingPlan> {
      return renderPlan(input);
    },
    async applyDeployment(input: { plan: ServingPlan; revision: number }) {
      return applyPlan(kube, input.plan, input.revision);
    },
    async awaitRollout(input: { plan: ServingPlan; revision: number; timeoutMs: number }) {
      return awaitPlanRollout(kube, input.plan, input.revision, input.timeoutMs);
    },
    async observeEndpoints(input: { plan: ServingPlan }) {
      return observePlan(kube, input.plan);
    },
    async writeStatus(update: StatusUpdate) {
      return writeResourceStatus(kube, update);
    },
    async deleteOwnedObjects(input: { namespace: string; name: string }) {
      return deleteOwned(kube, input.namespace, input.name);
    },
    async releaseFinalizer(key: ResourceKey) {
      return releaseFinalizer(kube, key);
    },
    async findServicesForModel(input: { namespace: string; model: string; cacheName?: string }) {
      return servicesForModel(kube, input.namespace, input.model, input.cacheName);
    },
    async resolveRoutes(input: { namespace: string; spec: InferenceGatewaySpec }) {
      return resolveRoutes(kube, input.namespace, input.spec);
    },
    async pairPrefillDecode(input: { namespace: string; model: string; zoneLabel: string }) {
      return pairPrefillDecode(kube, input.namespace, input.model, input.zoneLabel);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
