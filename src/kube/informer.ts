import {
  ListWatch,
  Watch,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { KubeClient } from './client.ts';

/**
 * A Watch whose open requests `stop()` aborts. client-node's ListWatch.stop() aborts only the request it has
 * stored, which it stores once the watch has connected: a watch still connecting, or one a list that answered
 * after stop() goes on to open, stayed open and kept a stopped process alive.
 */
class StoppableWatch extends Watch {
  private readonly open = new Set<AbortController>();
  private stopped = false;

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.stopped) {
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    const controller = await super.watch(path, queryParams, callback, done);
    if (this.stopped) controller.abort();
    else {
      this.open.add(controller);
      controller.signal.addEventListener('abort', () => this.open.delete(controller));
    }
    return controller;
  }

  stop(): void {
    this.stopped = true;
    for (const controller of this.open) controller.abort();
    this.open.clear();
  }
}

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
  const watch = new StoppableWatch(kube.kc);
  const informer = new ListWatch(
    path,
    watch,
    () => kube.get<KubernetesListObject<KubernetesObject>>(`${path}${query}`),
    false,
    labelSelector,
  ) as unknown as WatchedCollection;
  let state: SyncState = { synced: false, detail: `${label}: listing` };
  informer.syncState = () => state;
  /** The pending restart after an error: stop() clears it, so no timer keeps a stopped process alive. */
  let restart: NodeJS.Timeout | undefined;
  const stopListWatch = informer.stop.bind(informer);
  informer.stop = async () => {
    clearTimeout(restart);
    watch.stop();
    await stopListWatch();
  };
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
    restart = setTimeout(() => {
      if (!handlers.stopped())
        start().catch((e: Error) => handlers.log(`${label} restart failed: ${e.message}`));
    }, backoff);
    backoff = Math.min(backoff * 2, 30_000);
  });
  await start();
  return informer;
}
