/**
 * Every side effect of the workflows, one function per step; names read as steps in the Temporal UI.
 * Workflows import only the type of this object.
 */
import {
  DEFAULT_SERVICE_POLICY,
  type InferenceGatewaySpec,
  type InferenceServiceSpec,
  type ServicePolicy,
  type ServingPlan,
} from '../api/index.ts';
import { Context } from '@temporalio/activity';
import type { KubeClient } from '../kube/client.ts';
import type { ReplicaRuntime, RolloutHooks } from '../runtime/replica-runtime.ts';
import { LOCAL_GATEWAYS, type GatewayRuntime } from '../runtime/gateway-runtime.ts';
import { deployedGatewayAdmins } from './gateway/discovery.ts';
import {
  cacheReplicas,
  modelReplicas,
  pairPrefillDecode,
  resolveRoutes,
  servicesForModel,
} from './kubernetes/dependents.ts';
import { evictReplicaCache, scrapeReplicas, type CacheReplica } from './vllm/cache-actions.ts';
import { shiftOwnership, warmReplica, type GatewayAdmin } from './gateway/ownership.ts';
import { ApplicationFailure } from '@temporalio/common';
import { classified } from './failures.ts';
import { scrapeSpecDecode } from './vllm/spec-decode.ts';
import {
  releaseFinalizer,
  writeResourceStatus,
  type ResourceKey,
  type StatusUpdate,
} from './kubernetes/resources.ts';
import { resolveServiceInputs } from './kubernetes/service-activities.ts';
import { renderPlan, type RenderInput } from './vllm/render.ts';

/** The running activity's heartbeat and cancellable sleep, for a runtime's rollout wait. */
const activityHooks = (): RolloutHooks => ({
  heartbeat: (details) => Context.current().heartbeat(details),
  sleep: (ms) => Context.current().sleep(ms),
});

export function createActivities(
  kube: KubeClient,
  /** Where the replicas run: Kubernetes or local processes (the worker decides; see worker.ts). */
  runtime: ReplicaRuntime,
  /** The gateways' admin APIs, for cache transfers (the worker reads them from its environment). */
  gatewayAdmin?: GatewayAdmin,
  /** What InferenceService authors may ask for beyond serving (the worker reads it from its environment). */
  policy: ServicePolicy = DEFAULT_SERVICE_POLICY,
  /** Deploys the gateways the InferenceGateways describe (Kubernetes), or none (the process runtime). */
  gateways: GatewayRuntime = LOCAL_GATEWAYS,
) {
  return classified({
    async resolveServiceInputs(input: { namespace: string; name: string; spec: InferenceServiceSpec }) {
      return resolveServiceInputs(kube, input.namespace, input.name, input.spec, policy);
    },
    async renderVllmArgs(input: RenderInput): Promise<ServingPlan> {
      return renderPlan(input);
    },
    async applyDeployment(input: { plan: ServingPlan; revision: number }) {
      return runtime.apply(input.plan, input.revision);
    },
    async awaitRollout(input: { plan: ServingPlan; revision: number; timeoutMs: number }) {
      return runtime.awaitReady(input.plan, input.revision, input.timeoutMs, activityHooks());
    },
    async observeEndpoints(input: { plan: ServingPlan }) {
      return runtime.observe(input.plan);
    },
    async writeStatus(update: StatusUpdate) {
      return writeResourceStatus(kube, update);
    },
    async deleteOwnedObjects(input: { namespace: string; name: string }) {
      return runtime.deleteOwned(input.namespace, input.name);
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
    /** The gateway an InferenceGateway describes: Deployment, Service, admin Secret, ServiceAccount. */
    async deployGateway(input: { namespace: string; name: string; spec: InferenceGatewaySpec }) {
      return (await gateways.deployGateway(input)) ?? null;
    },
    async findCacheReplicas(input: { namespace: string; model: string; cacheName: string }) {
      return cacheReplicas(kube, input.namespace, input.model, input.cacheName);
    },
    async scrapeCacheMetrics(input: { replicas: CacheReplica[] }) {
      return scrapeReplicas(input.replicas);
    },
    async evictCache(input: { replica: CacheReplica; reason: string }) {
      return evictReplicaCache(input.replica);
    },
    /**
     * Transfer: every gateway moves half of the hottest prefixes `from` serves to `to`, then `to` is warmed
     * with prefill-only replays of them. The input carries the reason with the numbers (the audit).
     */
    async transferCache(input: {
      model: string;
      /** The cache's namespace: its deployed gateways are found there (absent in workflows started earlier). */
      namespace?: string;
      from: CacheReplica;
      to: CacheReplica;
      ttlSeconds: number;
      reason: string;
    }) {
      const admins =
        gatewayAdmin && gatewayAdmin.urls.length > 0
          ? [gatewayAdmin]
          : input.namespace
            ? await deployedGatewayAdmins(kube, input.namespace)
            : [];
      if (admins.length === 0)
        throw ApplicationFailure.nonRetryable(
          `no gateway admin API found: no InferenceGateway${input.namespace ? ` in ${input.namespace}` : ''} publishes status.adminUrl, and INFCTL_GATEWAY_ADMIN_URLS is not set`,
        );
      const { results, prompts } = await shiftOwnership(admins, {
        model: input.model,
        from: input.from.url,
        to: input.to.url,
        ttlSeconds: input.ttlSeconds,
        reason: input.reason,
      });
      const warm = await warmReplica(input.to, input.model, prompts, () => Context.current().heartbeat());
      return {
        gateways: results,
        moved: prompts.length,
        ...warm,
        method: 'gateway ownership shift + prefill-only replays',
      };
    },
    /** The target replicas' speculative-decoding counters (SpeculativeDecoding's acceptance rate). */
    async scrapeSpecDecoding(input: { namespace: string; model: string }) {
      return scrapeSpecDecode(await modelReplicas(kube, input.namespace, input.model));
    },
    async pairPrefillDecode(input: { namespace: string; model: string; zoneLabel: string }) {
      return pairPrefillDecode(kube, input.namespace, input.model, input.zoneLabel);
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;
