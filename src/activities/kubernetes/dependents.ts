import { scrapeReplicas, type CacheReplica, type ReplicaSample } from '../vllm/cache-actions.ts';
import {
  KIND_INFERENCE_CACHE,
  KIND_INFERENCE_GATEWAY,
  KIND_INFERENCE_SERVICE,
  LABELS,
  modelLabelValue,
  referencesFrom,
  sameModel,
  servedModel,
  type InferenceGatewaySpec,
} from '../../api/index.ts';
import { paths, type KubeClient } from '../../kube/client.ts';
import type { NodeObject, PodObject } from '../../kube/objects.ts';
import type { ServiceReader, ServiceResource } from './service-cache.ts';

/** The services of a model from a LIST of the namespace (the worker's cache reads memory instead). */
export function listingServices(kube: KubeClient): ServiceReader {
  return {
    async servicesOfModel(namespace, model) {
      const all = await kube.list<ServiceResource>(paths.custom('inferenceservices', namespace));
      return all.filter((s) => servedModel(KIND_INFERENCE_SERVICE, s.spec) === model);
    },
  };
}

/** The InferenceServices of a namespace that serve a model, optionally only those that name a cache. */
export async function modelServices(
  services: ServiceReader,
  namespace: string,
  model: string,
  cacheName?: string,
): Promise<ServiceResource[]> {
  const namesCache = (s: ServiceResource) =>
    referencesFrom(KIND_INFERENCE_SERVICE, s.spec, KIND_INFERENCE_CACHE).some((r) => r.name === cacheName);
  return (await services.servicesOfModel(namespace, model)).filter(
    (s) => cacheName === undefined || namesCache(s),
  );
}

export const namesOf = (services: ServiceResource[]) => services.map((s) => s.metadata.name).sort();

/** InferenceServices in a namespace that serve a model, optionally only those linked to a cache. */
async function servicesForModel(
  services: ServiceReader,
  namespace: string,
  model: string,
  cacheName?: string,
): Promise<string[]> {
  return namesOf(await modelServices(services, namespace, model, cacheName));
}

/** The ready replicas the services publish in their status, sorted by name. */
export function replicasOf(services: ServiceResource[]): CacheReplica[] {
  return services
    .flatMap((s) =>
      (s.status?.endpoints ?? [])
        .filter((e) => e.ready && e.name && e.url)
        .map((e) => ({
          name: e.name as string,
          url: e.url as string,
          engine: s.spec?.runtime?.engine ?? 'vllm',
          role: e.role ?? 'both',
        })),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The ready replicas the services of a model publish in their status (only the services that use `cacheName`
 * when given), sorted by name.
 */
async function publishedReplicas(
  services: ServiceReader,
  namespace: string,
  model: string,
  cacheName?: string,
): Promise<CacheReplica[]> {
  return replicasOf(await modelServices(services, namespace, model, cacheName));
}

/** What an InferenceCache's tick reads, in one step: its services, their ready replicas and each one's metrics. */
async function cacheTick(
  services: ServiceReader,
  namespace: string,
  model: string,
  cacheName: string,
): Promise<{ services: string[]; samples: ReplicaSample[] }> {
  const linked = await modelServices(services, namespace, model, cacheName);
  return { services: namesOf(linked), samples: await scrapeReplicas(replicasOf(linked)) };
}

export interface RouteReadiness {
  model: string;
  inferenceServiceRef: string;
  ready: boolean;
  endpoints: number;
  reason?: string;
}

/** Resolves every route of a gateway to its services (the references of api/references.ts) and their ready endpoints. */
async function resolveRoutes(
  kube: KubeClient,
  namespace: string,
  spec: InferenceGatewaySpec,
): Promise<RouteReadiness[]> {
  const out: RouteReadiness[] = [];
  for (const ref of referencesFrom(KIND_INFERENCE_GATEWAY, spec)) {
    const model = ref.model ?? '';
    const notReady = (reason: string) =>
      out.push({ model, inferenceServiceRef: ref.name, ready: false, endpoints: 0, reason });
    const svc = await kube.find<ServiceResource>(paths.custom('inferenceservices', namespace, ref.name));
    if (!svc) notReady(`InferenceService "${ref.name}" not found`);
    else if (!sameModel(ref, svc.spec))
      notReady(`InferenceService "${ref.name}" serves "${svc.spec?.modelName}", not "${model}"`);
    else {
      const ready = (svc.status?.endpoints ?? []).filter((e) => e.ready).length;
      out.push({
        model,
        inferenceServiceRef: ref.name,
        ready: ready > 0,
        endpoints: ready,
        ...(ready > 0 ? {} : { reason: `InferenceService "${ref.name}" has no ready endpoint` }),
      });
    }
  }
  return out;
}

export interface PodPairing {
  pairs: { prefillPod: string; decodeTargetPod: string; zone?: string }[];
  prefillPods: number;
  decodePods: number;
}

/**
 * Pairs ready prefill pods with ready decode pods of a model, same zone first, then any zone; decode pods are
 * shared round-robin when there are more prefill pods. Without pods (replicas as local processes), the ready
 * prefill and decode endpoints the model's services publish are paired the same way.
 */
async function pairPrefillDecode(
  kube: KubeClient,
  services: ServiceReader,
  namespace: string,
  model: string,
  zoneLabel: string,
): Promise<PodPairing> {
  const pods = await kube.list<PodObject>(paths.pods(namespace), `${LABELS.model}=${modelLabelValue(model)}`);
  const zoneOf = new Map<string, string | undefined>();
  const ready = async (role: string) => {
    const out: { name: string; zone?: string }[] = [];
    for (const p of pods.filter(
      (p) =>
        p.metadata.labels?.[LABELS.role] === role &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    )) {
      const node = p.spec.nodeName;
      if (node && !zoneOf.has(node))
        zoneOf.set(
          node,
          (await kube.find<NodeObject>(`/api/v1/nodes/${node}`))?.metadata.labels?.[zoneLabel],
        );
      out.push({ name: p.metadata.name, zone: node ? zoneOf.get(node) : undefined });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  };
  let prefill = await ready('prefill');
  let decode = await ready('decode');
  if (prefill.length === 0 && decode.length === 0) {
    // No pods: replicas that run elsewhere (the process runtime) are the services' published endpoints.
    const replicas = await publishedReplicas(services, namespace, model);
    prefill = replicas.filter((r) => r.role === 'prefill').map((r) => ({ name: r.name }));
    decode = replicas.filter((r) => r.role === 'decode').map((r) => ({ name: r.name }));
  }
  const pairs: PodPairing['pairs'] = [];
  const load = new Map<string, number>(decode.map((d) => [d.name, 0]));
  for (const p of prefill) {
    if (decode.length === 0) break;
    const candidates = decode.filter((d) => d.zone !== undefined && d.zone === p.zone);
    const pool = candidates.length > 0 ? candidates : decode;
    const target = pool.reduce((best, d) =>
      (load.get(d.name) ?? 0) < (load.get(best.name) ?? 0) ? d : best,
    );
    load.set(target.name, (load.get(target.name) ?? 0) + 1);
    pairs.push({
      prefillPod: p.name,
      decodeTargetPod: target.name,
      ...(target.zone === p.zone && p.zone ? { zone: p.zone } : {}),
    });
  }
  return { pairs, prefillPods: prefill.length, decodePods: decode.length };
}

/**
 * What the workflows look up about the resources around them, from the API server `kube` reaches; the
 * InferenceServices of a model from `services` (the worker's informer cache, else a LIST per call).
 */
export const dependentActivities = (kube: KubeClient, services: ServiceReader = listingServices(kube)) => ({
  findServicesForModel: (input: { namespace: string; model: string; cacheName?: string }) =>
    servicesForModel(services, input.namespace, input.model, input.cacheName),
  findCacheReplicas: (input: { namespace: string; model: string; cacheName: string }) =>
    publishedReplicas(services, input.namespace, input.model, input.cacheName),
  /** An InferenceCache tick's reads as one step (its actions stay steps of their own, for the audit). */
  readCacheTick: (input: { namespace: string; model: string; cacheName: string }) =>
    cacheTick(services, input.namespace, input.model, input.cacheName),
  resolveRoutes: (input: { namespace: string; spec: InferenceGatewaySpec }) =>
    resolveRoutes(kube, input.namespace, input.spec),
  pairPrefillDecode: (input: { namespace: string; model: string; zoneLabel: string }) =>
    pairPrefillDecode(kube, services, input.namespace, input.model, input.zoneLabel),
});
