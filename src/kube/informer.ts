import {
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { KubeClient } from './client.ts';

/** Whether a watched collection's cache is current: listed and watching, or restarting after an error. */
export interface SyncState {
  synced: boolean;
  detail: string;
}

export type WatchedCollection = Informer<KubernetesObject> &
  ObjectCache<KubernetesObject> & { syncState: () => SyncState };

export interface WatchHandlers {
  onChange: (obj: KubernetesObject) => void;
  onDelete: (obj: KubernetesObject) => void;
  log: (message: string) => void;
  /** Whether the owner has stopped; a stopped watch is not restarted. */
  stopped: () => boolean;
  /** Called each time a failed watch is scheduled to restart (the controller counts them). */
  onRestart?: () => void;
}

/**
 * Lists and watches one collection. client-node's informer does not restart after an error, so this restarts
 * it with exponential backoff (1 s doubling to 30 s). client-node emits `connect` on every attempt, even one
 * that fails a moment later, so the backoff resets only once a watch has stayed up for {@link STABLE_MS}.
 * A start counts as synced only when no error came during it: client-node reports a failed list through the
 * error event and still resolves `start()`.
 */
/** How long a watch must stay up before a later failure starts the backoff from 1 s again. */
const STABLE_MS = 60_000;

export async function watchCollection(
  kube: KubeClient,
  path: string,
  label: string,
  handlers: WatchHandlers,
  /** Only the objects with these labels (a Kubernetes label selector), for the list and the watch alike. */
  labelSelector?: string,
): Promise<WatchedCollection> {
  const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
  const informer = makeInformer(
    kube.kc,
    path,
    () => kube.get<KubernetesListObject<KubernetesObject>>(`${path}${query}`),
    labelSelector,
  ) as WatchedCollection;
  let state: SyncState = { synced: false, detail: `${label}: listing` };
  informer.syncState = () => state;
  informer.on('add', handlers.onChange);
  informer.on('update', handlers.onChange);
  informer.on('delete', handlers.onDelete);
  let backoff = 1000;
  let connectedAt: number | undefined;
  let errors = 0;
  const start = async () => {
    const before = errors;
    await informer.start();
    if (errors === before) state = { synced: true, detail: `${label}: listed and watching` };
  };
  informer.on('connect', () => {
    connectedAt = Date.now();
  });
  informer.on('error', (err) => {
    errors++;
    if (handlers.stopped()) return;
    if (connectedAt !== undefined && Date.now() - connectedAt >= STABLE_MS) backoff = 1000;
    connectedAt = undefined;
    const message = (err as Error)?.message ?? String(err);
    state = { synced: false, detail: `${label}: watch failed (${message}), restarting in ${backoff} ms` };
    handlers.log(`${label} watch failed (${message}); restarting in ${backoff} ms`);
    handlers.onRestart?.();
    setTimeout(() => {
      if (!handlers.stopped())
        start().catch((e: Error) => handlers.log(`${label} restart failed: ${e.message}`));
    }, backoff);
    backoff = Math.min(backoff * 2, 30_000);
  });
  await start();
  return informer;
}
