/**
 * The references between the five kinds, declared once: which field of which kind names a resource of which
 * kind (always in the same namespace), and the same-model rule the two must meet. `infctl validate`, the
 * activities that resolve a resource's inputs, the gateway's route resolution and the controller's dependency
 * index all read these edges, forward (what a spec names) or in reverse (who names a resource).
 *
 * Specs are read defensively: the controller's index holds them as the API server stores them (before
 * parsing, without defaults), the others hold parsed ones.
 */
import { KIND_INFERENCE_CACHE } from './inference-cache.ts';
import { KIND_INFERENCE_GATEWAY } from './inference-gateway.ts';
import { KIND_INFERENCE_SERVICE } from './inference-service.ts';
import { KIND_PDD } from './prefill-decoding-disaggregation.ts';
import { KIND_SPECULATIVE_DECODING } from './speculative-decoding.ts';

/** A resource by kind, namespace and name. */
export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

/** The one key of a resource: `<Kind>/<namespace>/<name>` (also its workflow ID). */
export const keyOf = (r: ResourceRef): string => `${r.kind}/${r.namespace}/${r.name}`;

/** The ref of a stored object (namespace `default` when it names none). */
export const refOf = (obj: {
  kind: string;
  metadata: { namespace?: string; name: string };
}): ResourceRef => ({
  kind: obj.kind,
  namespace: obj.metadata.namespace ?? 'default',
  name: obj.metadata.name,
});

/** One place in a spec that names another resource. */
export interface Reference {
  edge: ReferenceEdge;
  /** Where the name stands, from the resource's root: `['spec', 'routes', 1, 'inferenceServiceRef']`. */
  path: (string | number)[];
  /** The resource named. */
  name: string;
  /** The model the referring spec expects the resource named to serve. */
  model?: string;
}

export interface ReferenceEdge {
  from: string;
  to: string;
  /** The field, as a user reads it: `spec.routes[].split[].inferenceServiceRef`. */
  field: string;
  /**
   * Whom a change of the resource named reaches: the referrer itself, or (for what an InferenceCache links)
   * the referrer's own referrers, the InferenceServices that render it.
   */
  reaches: 'referrer' | 'referrers-of-referrer';
  /** Every reference of this edge in a spec. */
  read(spec: unknown): Omit<Reference, 'edge'>[];
}

type Fields = Record<string, unknown>;
const fields = (v: unknown): Fields => (v !== null && typeof v === 'object' ? (v as Fields) : {});
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The model a resource of a kind serves (modelName, or targetModel for SpeculativeDecoding). */
export function servedModel(kind: string, spec: unknown): string | undefined {
  const s = fields(spec);
  if (kind === KIND_SPECULATIVE_DECODING) return text(s.targetModel);
  return kind === KIND_INFERENCE_GATEWAY ? undefined : text(s.modelName);
}

/** A single `<field>: <name>` of a spec, expecting the spec's own model. */
function single(from: string, to: string, field: string, reaches: ReferenceEdge['reaches']): ReferenceEdge {
  return {
    from,
    to,
    field: `spec.${field}`,
    reaches,
    read(spec) {
      const name = text(fields(spec)[field]);
      const model = servedModel(from, spec);
      return name === undefined ? [] : [{ path: ['spec', field], name, ...(model ? { model } : {}) }];
    },
  };
}

export const REFERENCE_EDGES: readonly ReferenceEdge[] = [
  single(KIND_INFERENCE_SERVICE, KIND_INFERENCE_CACHE, 'inferenceCacheRef', 'referrer'),
  single(KIND_INFERENCE_CACHE, KIND_PDD, 'pddRef', 'referrers-of-referrer'),
  single(KIND_INFERENCE_CACHE, KIND_SPECULATIVE_DECODING, 'sdRef', 'referrers-of-referrer'),
  {
    from: KIND_INFERENCE_GATEWAY,
    to: KIND_INFERENCE_SERVICE,
    field: 'spec.routes[].inferenceServiceRef, spec.routes[].split[].inferenceServiceRef',
    reaches: 'referrer',
    // Route by route, the route's own service first, then its split: the order of the gateway's status.
    read(spec) {
      return list(fields(spec).routes).flatMap((value, i) => {
        const route = fields(value);
        const model = text(route.model);
        const at = (path: (string | number)[], name: unknown) =>
          typeof name === 'string' ? [{ path, name, ...(model ? { model } : {}) }] : [];
        return [
          ...at(['spec', 'routes', i, 'inferenceServiceRef'], route.inferenceServiceRef),
          ...list(route.split).flatMap((s, j) =>
            at(['spec', 'routes', i, 'split', j, 'inferenceServiceRef'], fields(s).inferenceServiceRef),
          ),
        ];
      });
    },
  },
];

/** Forward: every reference a spec of `kind` makes, optionally only those to `to`. */
export function referencesFrom(kind: string, spec: unknown, to?: string): Reference[] {
  return REFERENCE_EDGES.filter((e) => e.from === kind && (to === undefined || e.to === to)).flatMap((edge) =>
    edge.read(spec).map((r) => ({ edge, ...r })),
  );
}

/** Reverse: the edges by which a resource of `kind` is referred to. */
export function edgesTo(kind: string): ReferenceEdge[] {
  return REFERENCE_EDGES.filter((e) => e.to === kind);
}

/** Whether the resource named serves the model the reference expects. */
export function sameModel(ref: Reference, targetSpec: unknown): boolean {
  return ref.model === undefined || servedModel(ref.edge.to, targetSpec) === ref.model;
}

/**
 * The kinds whose workflows look at the InferenceServices of their model (the cache's replicas, the SD's
 * services, the PDD's pods), so a service's readiness reaches them by model, not by a reference.
 */
export const OBSERVES_MODEL_SERVICES: readonly string[] = [
  KIND_PDD,
  KIND_INFERENCE_CACHE,
  KIND_SPECULATIVE_DECODING,
];

/**
 * Of those, the kinds that act on a service's readiness (the PDD pairs ready pods). The cache and the SD read
 * which services there are; their ticks read the replicas, so a service's rollout does not signal them
 * (at N=1,000 those signals were 1,000 of the convergence's 1,500; issue 16).
 */
export const OBSERVES_MODEL_READINESS: readonly string[] = [KIND_PDD];
