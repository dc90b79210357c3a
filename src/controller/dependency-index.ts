/**
 * Who depends on whom: an InferenceService on its InferenceCache, and through it on a PDD and a
 * SpeculativeDecoding; a gateway on the services its routes name. When a resource's spec (or, for a service,
 * its readiness) changes, the dependents must reconcile.
 */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    generation?: number;
    resourceVersion?: string;
    finalizers?: string[];
    deletionTimestamp?: string | Date;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface Ref {
  kind: string;
  namespace: string;
  name: string;
}

const keyOf = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

export class DependencyIndex {
  private readonly specs = new Map<string, Resource>();
  /** The last generation (and, for services, readiness) seen per resource: changes trigger dependents. */
  private readonly seen = new Map<string, string>();

  forget(obj: Resource): void {
    const key = keyOf(obj.kind, obj.metadata.namespace ?? 'default', obj.metadata.name);
    this.specs.delete(key);
    this.seen.delete(key);
  }

  /** Records a resource; returns the dependents to signal when it changed in a way they care about. */
  update(obj: Resource): Ref[] {
    const ns = obj.metadata.namespace ?? 'default';
    const key = keyOf(obj.kind, ns, obj.metadata.name);
    const fingerprint =
      obj.kind === 'InferenceService'
        ? `${obj.metadata.generation}:${JSON.stringify(obj.status?.endpoints ?? [])}:${String(obj.status?.phase)}`
        : String(obj.metadata.generation);
    const previous = this.seen.get(key);
    this.specs.set(key, obj);
    this.seen.set(key, fingerprint);
    // A first sighting counts as a change: it may be the resource a dependent reported missing. After a
    // controller restart this costs the dependents one reconcile that finds nothing to roll out.
    if (previous === fingerprint) return [];
    return this.dependentsOf(obj.kind, ns, obj.metadata.name);
  }

  dependentsOf(kind: string, namespace: string, name: string): Ref[] {
    const inNs = [...this.specs.values()].filter((r) => (r.metadata.namespace ?? 'default') === namespace);
    const ref = (r: Resource): Ref => ({ kind: r.kind, namespace, name: r.metadata.name });
    const servicesOfCache = (cache: string) =>
      inNs.filter((r) => r.kind === 'InferenceService' && r.spec?.inferenceCacheRef === cache);
    switch (kind) {
      case 'InferenceCache':
        return servicesOfCache(name).map(ref);
      case 'PrefillDecodingDisaggregation':
      case 'SpeculativeDecoding': {
        const field = kind === 'SpeculativeDecoding' ? 'sdRef' : 'pddRef';
        const caches = inNs.filter((r) => r.kind === 'InferenceCache' && r.spec?.[field] === name);
        const out = caches.flatMap((c) => servicesOfCache(c.metadata.name)).map(ref);
        // The resource's own workflow reports which services it reaches.
        return out;
      }
      case 'InferenceService': {
        const gateways = inNs.filter(
          (r) =>
            r.kind === 'InferenceGateway' &&
            (
              (r.spec?.routes as
                { inferenceServiceRef?: string; split?: { inferenceServiceRef?: string }[] }[] | undefined) ??
              []
            ).some(
              (route) =>
                route.inferenceServiceRef === name ||
                (route.split ?? []).some((s) => s.inferenceServiceRef === name),
            ),
        );
        const related = inNs.filter(
          (r) =>
            (r.kind === 'PrefillDecodingDisaggregation' ||
              r.kind === 'InferenceCache' ||
              r.kind === 'SpeculativeDecoding') &&
            this.servesSameModel(r, this.specs.get(keyOf('InferenceService', namespace, name))),
        );
        return [...gateways, ...related].map(ref);
      }
      default:
        return [];
    }
  }

  private servesSameModel(r: Resource, svc: Resource | undefined): boolean {
    const model = svc?.spec?.modelName;
    return model !== undefined && (r.spec?.modelName === model || r.spec?.targetModel === model);
  }
}
