/**
 * Who depends on whom: an InferenceService on its InferenceCache, and through it on a PDD and a
 * SpeculativeDecoding; a gateway on the services its routes name (the edges of api/references.ts); the
 * resources that observe a model's services on those services. When a resource's spec (or, for a service,
 * its readiness) changes, the dependents must reconcile. Reverse maps, kept as resources arrive and leave, so
 * a change costs its own dependents, not a scan of every resource.
 */
import {
  KIND_INFERENCE_SERVICE,
  OBSERVES_MODEL_READINESS,
  OBSERVES_MODEL_SERVICES,
  edgesTo,
  keyOf,
  refOf,
  referencesFrom,
  servedModel,
  type ResourceRef,
} from '../api/index.ts';

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

/** A multimap of keys whose sets keep insertion order. */
class Links {
  private readonly map = new Map<string, Map<string, ResourceRef>>();
  add(at: string, ref: ResourceRef): void {
    let set = this.map.get(at);
    if (!set) this.map.set(at, (set = new Map()));
    set.set(keyOf(ref), ref);
  }
  remove(at: string, ref: ResourceRef): void {
    const set = this.map.get(at);
    set?.delete(keyOf(ref));
    if (set?.size === 0) this.map.delete(at);
  }
  get(at: string): ResourceRef[] {
    return [...(this.map.get(at)?.values() ?? [])];
  }
}

/** Where a resource stands in the reverse maps: the targets it names (by edge), the model it observes. */
interface Entry {
  ref: ResourceRef;
  names: { edge: string; target: string }[];
  model?: string;
}

const edgeKey = (from: string, to: string) => `${from}>${to}`;
const modelKey = (namespace: string, model: string) => `${namespace}/${model}`;

export class DependencyIndex {
  private readonly entries = new Map<string, Entry>();
  /** `<edge> <target key>` → the resources that name the target by that edge. */
  private readonly referrers = new Links();
  /** `<namespace>/<model>` → the resources that observe the services of the model. */
  private readonly observers = new Links();
  /** The models the services serve, for their observers. */
  private readonly serviceModels = new Map<string, string>();
  /** The last generation (and, for services, readiness) seen per resource: changes trigger dependents. */
  private readonly seen = new Map<string, { generation: string; readiness?: string }>();

  forget(obj: Resource): void {
    const key = keyOf(refOf(obj));
    this.unlink(key);
    this.seen.delete(key);
  }

  /** Records a resource; returns the dependents to signal when it changed in a way they care about. */
  update(obj: Resource): ResourceRef[] {
    const ref = refOf(obj);
    const key = keyOf(ref);
    const now = {
      generation: String(obj.metadata.generation),
      ...(obj.kind === KIND_INFERENCE_SERVICE
        ? { readiness: `${JSON.stringify(obj.status?.endpoints ?? [])}:${String(obj.status?.phase)}` }
        : {}),
    };
    const previous = this.seen.get(key);
    this.link(ref, obj.spec);
    this.seen.set(key, now);
    // A first sighting counts as a change: it may be the resource a dependent reported missing. After a
    // controller restart this costs the dependents one reconcile that finds nothing to roll out.
    if (previous?.generation === now.generation) {
      if (previous.readiness === now.readiness) return [];
      return this.dependentsOf(ref, true);
    }
    return this.dependentsOf(ref, false);
  }

  /** `readinessOnly`: only the target's readiness changed, which reaches only those that act on it. */
  private dependentsOf(target: ResourceRef, readinessOnly: boolean): ResourceRef[] {
    const out = new Map<string, ResourceRef>();
    const add = (r: ResourceRef) => out.set(keyOf(r), r);
    for (const edge of edgesTo(target.kind)) {
      for (const referrer of this.referrersBy(edgeKey(edge.from, edge.to), target)) {
        if (edge.reaches === 'referrer') add(referrer);
        // What a cache links reaches the services that render the cache.
        else
          for (const e of edgesTo(referrer.kind))
            this.referrersBy(edgeKey(e.from, e.to), referrer).forEach(add);
      }
    }
    const model = target.kind === KIND_INFERENCE_SERVICE ? this.serviceModels.get(keyOf(target)) : undefined;
    if (model !== undefined)
      for (const observer of this.observers.get(modelKey(target.namespace, model)))
        if (!readinessOnly || OBSERVES_MODEL_READINESS.includes(observer.kind)) add(observer);
    return [...out.values()];
  }

  private referrersBy(edge: string, target: ResourceRef): ResourceRef[] {
    return this.referrers.get(`${edge} ${keyOf(target)}`);
  }

  private link(ref: ResourceRef, spec: unknown): void {
    const key = keyOf(ref);
    this.unlink(key);
    const names = referencesFrom(ref.kind, spec).map((r) => ({
      edge: edgeKey(r.edge.from, r.edge.to),
      target: keyOf({ kind: r.edge.to, namespace: ref.namespace, name: r.name }),
    }));
    for (const n of names) this.referrers.add(`${n.edge} ${n.target}`, ref);
    const model = servedModel(ref.kind, spec);
    const observes = model !== undefined && OBSERVES_MODEL_SERVICES.includes(ref.kind);
    if (observes) this.observers.add(modelKey(ref.namespace, model), ref);
    if (ref.kind === KIND_INFERENCE_SERVICE && model !== undefined) this.serviceModels.set(key, model);
    this.entries.set(key, { ref, names, ...(observes ? { model } : {}) });
  }

  private unlink(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    for (const n of entry.names) this.referrers.remove(`${n.edge} ${n.target}`, entry.ref);
    if (entry.model !== undefined)
      this.observers.remove(modelKey(entry.ref.namespace, entry.model), entry.ref);
    this.serviceModels.delete(key);
    this.entries.delete(key);
  }
}
