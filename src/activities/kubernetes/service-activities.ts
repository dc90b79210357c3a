import { Context } from '@temporalio/activity';
import {
  API_VERSION,
  DEFAULT_SERVICE_POLICY,
  servicePolicyProblems,
  type ServicePolicy,
  InferenceCacheSpecSchema,
  KIND_INFERENCE_SERVICE,
  LABELS,
  PrefillDecodingDisaggregationSpecSchema,
  SpeculativeDecodingSpecSchema,
  type InferenceCacheSpec,
  type InferenceServiceSpec,
  type PrefillDecodingDisaggregationSpec,
  type ServingPlan,
  type SpeculativeDecodingSpec,
} from '../../api/index.ts';
import { paths, type KubeClient, type KubeObject } from '../../runtime/kubernetes/kube-client.ts';
import { deploymentFor, serviceFor } from '../../runtime/kubernetes/manifests.ts';
import { recordEvent } from './events.ts';

export interface ResolvedInputs {
  uid: string;
  cache?: InferenceCacheSpec;
  pdd?: PrefillDecodingDisaggregationSpec;
  sd?: SpeculativeDecodingSpec;
  /** Why the inputs cannot be rendered, each naming the field and the resource; empty when they can. */
  problems: string[];
  /** The service's own spec is invalid (rather than a reference). */
  invalidSpec?: boolean;
}

interface CustomObject extends KubeObject {
  spec?: unknown;
}

/** Reads an InferenceService's linked InferenceCache, PDD and SpeculativeDecoding and checks they fit. */
export async function resolveServiceInputs(
  kube: KubeClient,
  namespace: string,
  name: string,
  spec: InferenceServiceSpec,
  policy: ServicePolicy = DEFAULT_SERVICE_POLICY,
): Promise<ResolvedInputs | undefined> {
  const self = await kube.find<CustomObject>(paths.custom('inferenceservices', namespace, name));
  if (!self) return undefined;
  const out: ResolvedInputs = { uid: self.metadata.uid ?? '', problems: [] };
  // The controller parsed the spec; what the operator's policy refuses is reported here as InvalidSpec.
  const refused = servicePolicyProblems(spec, policy);
  if (refused.length > 0) {
    out.problems.push(...refused);
    out.invalidSpec = true;
    return out;
  }
  if (spec.inferenceCacheRef === undefined) return out;
  const cacheObj = await kube.find<CustomObject>(
    paths.custom('inferencecaches', namespace, spec.inferenceCacheRef),
  );
  if (!cacheObj) {
    out.problems.push(
      `spec.inferenceCacheRef: InferenceCache "${spec.inferenceCacheRef}" not found in namespace "${namespace}"`,
    );
    return out;
  }
  const cache = InferenceCacheSpecSchema.safeParse(cacheObj.spec);
  if (!cache.success) {
    out.problems.push(
      `spec.inferenceCacheRef: InferenceCache "${spec.inferenceCacheRef}" has an invalid spec: ${cache.error.issues[0]?.message}`,
    );
    return out;
  }
  out.cache = cache.data;
  if (cache.data.modelName !== spec.modelName) {
    out.problems.push(
      `spec.inferenceCacheRef: InferenceCache "${spec.inferenceCacheRef}" manages model "${cache.data.modelName}", not "${spec.modelName}"`,
    );
  }
  const linked = async <T>(
    field: 'pddRef' | 'sdRef',
    kind: string,
    plural: string,
    schema: { safeParse: (v: unknown) => { success: true; data: T } | { success: false } },
    modelOf: (t: T) => string,
  ): Promise<T | undefined> => {
    const ref = cache.data[field];
    if (ref === undefined) return undefined;
    const obj = await kube.find<CustomObject>(paths.custom(plural, namespace, ref));
    const parsed = obj ? schema.safeParse(obj.spec) : undefined;
    if (!obj || !parsed) {
      out.problems.push(
        `InferenceCache "${spec.inferenceCacheRef}" spec.${field}: ${kind} "${ref}" not found in namespace "${namespace}"`,
      );
    } else if (!parsed.success) {
      out.problems.push(`${kind} "${ref}" has an invalid spec`);
    } else if (modelOf(parsed.data) !== spec.modelName) {
      out.problems.push(`${kind} "${ref}" is for model "${modelOf(parsed.data)}", not "${spec.modelName}"`);
    } else return parsed.data;
    return undefined;
  };
  const pdd = await linked(
    'pddRef',
    'PrefillDecodingDisaggregation',
    'prefilldecodingdisaggregations',
    PrefillDecodingDisaggregationSpecSchema,
    (p) => p.modelName,
  );
  const sd = await linked(
    'sdRef',
    'SpeculativeDecoding',
    'speculativedecodings',
    SpeculativeDecodingSpecSchema,
    (d) => d.targetModel,
  );
  if (pdd) out.pdd = pdd;
  if (sd) out.sd = sd;
  return out;
}

const ownerRef = (plan: ServingPlan) => ({
  apiVersion: API_VERSION,
  kind: KIND_INFERENCE_SERVICE,
  namespace: plan.namespace,
  name: plan.owner.name,
  uid: plan.owner.uid,
});

/** Server-side applies the plan's Deployments and Service, and deletes groups the plan no longer has. */
export async function applyPlan(
  kube: KubeClient,
  plan: ServingPlan,
  revision: number,
): Promise<{ applied: string[]; deleted: string[] }> {
  const applied: string[] = [];
  for (const group of plan.groups) {
    await kube.apply(paths.deployment(plan.namespace, group.name), deploymentFor(plan, group, revision));
    applied.push(`Deployment/${group.name}`);
  }
  await kube.apply(paths.service(plan.namespace, plan.backend), serviceFor(plan));
  applied.push(`Service/${plan.backend}`);
  const existing = await kube.list(paths.deployments(plan.namespace), `${LABELS.service}=${plan.owner.name}`);
  const deleted: string[] = [];
  for (const d of existing) {
    if (!plan.groups.some((g) => g.name === d.metadata.name)) {
      await kube.delete(paths.deployment(plan.namespace, d.metadata.name));
      deleted.push(`Deployment/${d.metadata.name}`);
    }
  }
  await recordEvent(
    kube,
    ownerRef(plan),
    'Normal',
    'Applied',
    `revision ${revision}: applied ${applied.join(', ')}${deleted.length ? `; deleted ${deleted.join(', ')}` : ''}`,
  );
  return { applied, deleted };
}

interface DeploymentObject extends KubeObject {
  spec: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
  };
}

interface PodObject extends KubeObject {
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutOutcome {
  ok: boolean;
  message: string;
}

/** How long a new pod may stay unschedulable before the rollout is declared failed. */
const UNSCHEDULABLE_GRACE_MS = 15_000;

/**
 * Waits until every Deployment of the plan runs the revision with all replicas available. Heartbeats each
 * poll and honours cancellation; fails early when the revision's pods cannot be scheduled.
 */
export async function awaitPlanRollout(
  kube: KubeClient,
  plan: ServingPlan,
  revision: number,
  timeoutMs: number,
  pollMs = 1000,
): Promise<RolloutOutcome> {
  const started = Date.now();
  let unschedulableSince: number | undefined;
  for (;;) {
    const pending: string[] = [];
    for (const group of plan.groups) {
      const d = await kube.find<DeploymentObject>(paths.deployment(plan.namespace, group.name));
      const s = d?.status;
      const want = group.replicas;
      const done =
        d !== undefined &&
        (s?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        d.metadata.annotations?.['production-stack.vllm.ai/revision'] === String(revision) &&
        (s?.updatedReplicas ?? 0) === want &&
        (s?.availableReplicas ?? 0) === want &&
        (s?.replicas ?? 0) === want;
      if (!done)
        pending.push(
          `${group.name}: ${s?.availableReplicas ?? 0}/${want} available, ${s?.updatedReplicas ?? 0} updated`,
        );
    }
    if (pending.length === 0) {
      await recordEvent(
        kube,
        ownerRef(plan),
        'Normal',
        'RolloutComplete',
        `revision ${revision} is available`,
      );
      return { ok: true, message: `revision ${revision} is available` };
    }
    const pods = await kube.list<PodObject>(
      paths.pods(plan.namespace),
      `${LABELS.service}=${plan.owner.name},${LABELS.revision}=${revision}`,
    );
    const unschedulable = pods
      .map((p) => ({
        name: p.metadata.name,
        c: p.status?.conditions?.find(
          (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
        ),
      }))
      .filter((p) => p.c !== undefined);
    if (unschedulable.length > 0) {
      unschedulableSince ??= Date.now();
      if (Date.now() - unschedulableSince > UNSCHEDULABLE_GRACE_MS) {
        const first = unschedulable[0];
        const message = `revision ${revision} cannot be scheduled: pod ${first?.name}: ${first?.c?.message ?? 'Unschedulable'}`;
        await recordEvent(kube, ownerRef(plan), 'Warning', 'RolloutFailed', message);
        return { ok: false, message };
      }
    } else unschedulableSince = undefined;
    if (Date.now() - started > timeoutMs) {
      const message = `revision ${revision} did not become available within ${Math.round(timeoutMs / 1000)}s: ${pending.join('; ')}`;
      await recordEvent(kube, ownerRef(plan), 'Warning', 'RolloutFailed', message);
      return { ok: false, message };
    }
    Context.current().heartbeat({ pending });
    await Context.current().sleep(pollMs);
  }
}

export interface ServiceObservation {
  replicas: number;
  readyReplicas: number;
  endpoints: {
    name: string;
    url: string;
    role: 'both' | 'prefill' | 'decode';
    ready: boolean;
    zone?: string;
  }[];
}

/** The replicas behind a plan, read from its pods. */
export async function observePlan(
  kube: KubeClient,
  plan: ServingPlan,
  zoneLabel = 'topology.kubernetes.io/zone',
): Promise<ServiceObservation> {
  const pods = await kube.list<PodObject>(paths.pods(plan.namespace), `${LABELS.service}=${plan.owner.name}`);
  const zones = new Map<string, string>();
  const endpoints: ServiceObservation['endpoints'] = [];
  for (const p of pods.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    let zone: string | undefined;
    const nodeName = p.spec.nodeName;
    if (nodeName) {
      if (!zones.has(nodeName)) {
        const node = await kube.find(`/api/v1/nodes/${nodeName}`);
        zones.set(nodeName, node?.metadata.labels?.[zoneLabel] ?? '');
      }
      zone = zones.get(nodeName) || undefined;
    }
    endpoints.push({
      name: p.metadata.name,
      url: p.status?.podIP ? `http://${p.status.podIP}:${plan.port}` : '',
      role: (p.metadata.labels?.[LABELS.role] as 'both' | 'prefill' | 'decode') ?? 'both',
      ready,
      ...(zone ? { zone } : {}),
    });
  }
  const replicas = plan.groups.reduce((n, g) => n + g.replicas, 0);
  return { replicas, readyReplicas: endpoints.filter((e) => e.ready).length, endpoints };
}

/** Deletes everything an InferenceService owns. */
export async function deleteOwned(kube: KubeClient, namespace: string, name: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const d of await kube.list(paths.deployments(namespace), `${LABELS.service}=${name}`)) {
    if (await kube.delete(paths.deployment(namespace, d.metadata.name)))
      deleted.push(`Deployment/${d.metadata.name}`);
  }
  for (const s of await kube.list(paths.services(namespace), `${LABELS.service}=${name}`)) {
    if (await kube.delete(paths.service(namespace, s.metadata.name)))
      deleted.push(`Service/${s.metadata.name}`);
  }
  return deleted;
}
