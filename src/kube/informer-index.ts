/**
 * The objects of one informer grouped by a key (a model, an owning service), for the worker's caches: a read
 * is a map lookup instead of a LIST. It also says whether the informer can be trusted right now: not from a
 * watch error until the restarted watch has stayed up a moment, so readers fall back to a LIST meanwhile and a
 * down API server is waited out as before.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchedCollection, WatchHandlers } from './informer.ts';
import type { KubeObject } from './objects.ts';

/** How long a restarted watch must stay up before reads trust the cache again. */
const SETTLE_MS = 2000;

const objectKey = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class InformerIndex<T extends KubeObject> {
  private readonly groups = new Map<string, Map<string, T>>();
  /** The group each object was filed under, to move it when its key changes. */
  private readonly groupOf = new Map<string, string>();
  private trusted = true;
  private errors = 0;

  /** `keyOf` answers undefined for an object that belongs to no group. */
  constructor(private readonly keyOf: (o: T) => string | undefined) {}

  put(o: T): void {
    this.remove(o);
    const key = this.keyOf(o);
    if (key === undefined) return;
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new Map()));
    group.set(objectKey(o), o);
    this.groupOf.set(objectKey(o), key);
  }

  remove(o: KubeObject): void {
    const key = this.groupOf.get(objectKey(o));
    if (key === undefined) return;
    this.groupOf.delete(objectKey(o));
    const group = this.groups.get(key);
    group?.delete(objectKey(o));
    if (group?.size === 0) this.groups.delete(key);
  }

  get(key: string): T[] {
    return [...(this.groups.get(key)?.values() ?? [])];
  }

  /** False from a watch error until the restarted watch has stayed up for {@link SETTLE_MS}. */
  get fresh(): boolean {
    return this.trusted;
  }

  /** The informer events that keep the index. */
  handlers(): Pick<WatchHandlers, 'onChange' | 'onDelete'> {
    return {
      onChange: (o: KubernetesObject) => this.put(o as T),
      onDelete: (o: KubernetesObject) => this.remove(o as KubeObject),
    };
  }

  /** Follows the informer's errors and reconnects. */
  track(informer: WatchedCollection): void {
    informer.on('error', () => {
      this.errors++;
      this.trusted = false;
    });
    informer.on('connect', () => {
      const errors = this.errors;
      setTimeout(() => {
        if (this.errors === errors) this.trusted = true;
      }, SETTLE_MS).unref();
    });
  }
}
