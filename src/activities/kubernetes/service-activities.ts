import {
  DEFAULT_SERVICE_POLICY,
  InferenceCacheSpecSchema,
  KIND_INFERENCE_CACHE,
  KIND_INFERENCE_SERVICE,
  KIND_PDD,
  KIND_SPECULATIVE_DECODING,
  kindInfo,
  referencesFrom,
  sameModel,
  servedModel,
  servicePolicyProblems,
  SPEC_SCHEMAS,
  type InferenceCacheSpec,
  type Reference,
  type ServicePolicy,
  type SpecKind,
  type SpecOf,
  type InferenceServiceSpec,
  type PrefillDecodingDisaggregationSpec,
  type SpeculativeDecodingSpec,
} from '../../api/index.ts';
import { paths, type KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';

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

const pluralOf = (ref: Reference) => kindInfo(ref.edge.to)?.plural ?? '';

/** Reads an InferenceService's linked InferenceCache, PDD and SpeculativeDecoding and checks they fit. */
async function resolveServiceInputs(
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
  // The references of api/references.ts: the service's cache, then what the cache links.
  const [cacheRef] = referencesFrom(KIND_INFERENCE_SERVICE, spec);
  if (cacheRef === undefined) return out;
  const cacheObj = await kube.find<CustomObject>(paths.custom(pluralOf(cacheRef), namespace, cacheRef.name));
  if (!cacheObj) {
    out.problems.push(
      `${cacheRef.edge.field}: InferenceCache "${cacheRef.name}" not found in namespace "${namespace}"`,
    );
    return out;
  }
  const cache = InferenceCacheSpecSchema.safeParse(cacheObj.spec);
  if (!cache.success) {
    out.problems.push(
      `${cacheRef.edge.field}: InferenceCache "${cacheRef.name}" has an invalid spec: ${cache.error.issues[0]?.message}`,
    );
    return out;
  }
  out.cache = cache.data;
  if (!sameModel(cacheRef, cache.data)) {
    out.problems.push(
      `${cacheRef.edge.field}: InferenceCache "${cacheRef.name}" manages model "${cache.data.modelName}", not "${spec.modelName}"`,
    );
  }
  /** What the cache links (pddRef, sdRef), parsed with the kind's schema, when it exists and fits. */
  const linked = async <K extends SpecKind>(to: K): Promise<SpecOf<K> | undefined> => {
    const [ref] = referencesFrom(KIND_INFERENCE_CACHE, cache.data, to);
    if (ref === undefined) return undefined;
    const obj = await kube.find<CustomObject>(paths.custom(pluralOf(ref), namespace, ref.name));
    const parsed = obj ? SPEC_SCHEMAS[to].safeParse(obj.spec) : undefined;
    if (!parsed) {
      out.problems.push(
        `InferenceCache "${cacheRef.name}" ${ref.edge.field}: ${to} "${ref.name}" not found in namespace "${namespace}"`,
      );
    } else if (!parsed.success) {
      out.problems.push(`${to} "${ref.name}" has an invalid spec`);
    } else if (!sameModel({ ...ref, model: spec.modelName }, parsed.data)) {
      out.problems.push(
        `${to} "${ref.name}" is for model "${servedModel(to, parsed.data)}", not "${spec.modelName}"`,
      );
    } else return parsed.data as SpecOf<K>;
    return undefined;
  };
  const pdd = await linked(KIND_PDD);
  const sd = await linked(KIND_SPECULATIVE_DECODING);
  if (pdd && cache.data.tiers.lmcache?.remoteUrl !== undefined && pdd.kvConnector !== 'LMCacheConnectorV1') {
    // One connector carries the KV: an LMCache tier and another P/D connector cannot both be rendered.
    out.problems.push(
      `InferenceCache "${cacheRef.name}" spec.tiers.lmcache needs the PrefillDecodingDisaggregation's kvConnector to be LMCacheConnectorV1, not ${pdd.kvConnector}`,
    );
  }
  if (pdd) out.pdd = pdd;
  if (sd) out.sd = sd;
  return out;
}

/** Resolving an InferenceService's inputs, under the operator's policy. */
export const serviceActivities = (kube: KubeClient, policy: ServicePolicy) => ({
  resolveServiceInputs: (input: { namespace: string; name: string; spec: InferenceServiceSpec }) =>
    resolveServiceInputs(kube, input.namespace, input.name, input.spec, policy),
});
