import {
  DEFAULT_SERVICE_POLICY,
  servicePolicyProblems,
  type ServicePolicy,
  InferenceCacheSpecSchema,
  PrefillDecodingDisaggregationSpecSchema,
  SpeculativeDecodingSpecSchema,
  type InferenceCacheSpec,
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
  if (pdd && cache.data.tiers.lmcache?.remoteUrl !== undefined && pdd.kvConnector !== 'LMCacheConnectorV1') {
    // One connector carries the KV: an LMCache tier and another P/D connector cannot both be rendered.
    out.problems.push(
      `InferenceCache "${spec.inferenceCacheRef}" spec.tiers.lmcache needs the PrefillDecodingDisaggregation's kvConnector to be LMCacheConnectorV1, not ${pdd.kvConnector}`,
    );
  }
  if (pdd) out.pdd = pdd;
  if (sd) out.sd = sd;
  return out;
}
