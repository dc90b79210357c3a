import { API_VERSION, KIND_INFERENCE_SERVICE } from '../../api/index.ts';
import type { KubeClient } from '../../kube/client.ts';
import { KubeApiError, paths } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { RecordServiceEvent } from '../../runtime/kubernetes/kubernetes-runtime.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** How long a repeat of an Event counts on the first one, as client-go's event correlator does. */
const SERIES_WINDOW_MS = 10 * 60_000;
/** Series remembered per process; the oldest is forgotten first. */
const SERIES_MAX = 4096;

interface Series {
  name: string;
  count: number;
  lastMs: number;
}

/**
 * Identical Events (same object, type, reason and message) within the window are one Event whose count and
 * lastTimestamp grow, the way `kubectl describe` shows "(x5 over 3m)": one object in etcd, not one per repeat.
 * Kept per worker process (another worker starts its own series). Pure bookkeeping, no I/O.
 */
export class EventSeries {
  private readonly series = new Map<string, Series>();

  constructor(
    private readonly windowMs = SERIES_WINDOW_MS,
    private readonly max = SERIES_MAX,
  ) {}

  static key(ref: ObjectRef, type: string, reason: string, message: string): string {
    return [ref.namespace, ref.kind, ref.name, ref.uid ?? '', type, reason, message].join('\0');
  }

  /** The Event to count a repeat on and its new count, or undefined when a new Event is due. */
  repeat(key: string, nowMs: number): { name: string; count: number } | undefined {
    const s = this.series.get(key);
    if (!s || nowMs - s.lastMs > this.windowMs) return undefined;
    return { name: s.name, count: s.count + 1 };
  }

  /** Remembers what was written: a new Event (count 1) or a counted repeat. */
  recorded(key: string, name: string, count: number, nowMs: number): void {
    this.series.delete(key);
    this.series.set(key, { name, count, lastMs: nowMs });
    if (this.series.size > this.max) this.series.delete(this.series.keys().next().value as string);
  }

  forget(key: string): void {
    this.series.delete(key);
  }
}

const series = new EventSeries();

/**
 * Records a Kubernetes Event on a resource, or counts a repeat of the same Event on the one already recorded
 * (a merge patch of count and lastTimestamp; a new Event when that one expired). Failures to record are logged,
 * never fatal.
 */
export async function recordEvent(
  kube: KubeClient,
  ref: ObjectRef,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  const text = message.slice(0, 1024);
  const key = EventSeries.key(ref, type, reason, text);
  const nowMs = Date.now();
  const now = new Date(nowMs).toISOString();
  try {
    const repeat = series.repeat(key, nowMs);
    if (repeat) {
      try {
        await kube.mergePatch(`${paths.events(ref.namespace)}/${repeat.name}`, {
          count: repeat.count,
          lastTimestamp: now,
        });
        series.recorded(key, repeat.name, repeat.count, nowMs);
        return;
      } catch (err) {
        // Expired (the API server's event TTL) or deleted: start a new one.
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        series.forget(key);
      }
    }
    const name = `${ref.name}.${nowMs.toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ref.namespace },
      involvedObject: {
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        name: ref.name,
        namespace: ref.namespace,
        ...(ref.uid ? { uid: ref.uid } : {}),
      },
      reason,
      message: text,
      type,
      source: { component: 'inference-controller' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await kube.request('POST', paths.events(ref.namespace), event);
    series.recorded(key, name, 1, nowMs);
  } catch (err) {
    console.warn(`could not record event ${reason} on ${ref.kind}/${ref.name}: ${(err as Error).message}`);
  }
}

/** Events on the InferenceService a plan serves: how the Kubernetes runtime records Applied and its rollouts. */
export const serviceEvents =
  (kube: KubeClient): RecordServiceEvent =>
  (plan, type, reason, message) =>
    recordEvent(
      kube,
      {
        apiVersion: API_VERSION,
        kind: KIND_INFERENCE_SERVICE,
        namespace: plan.namespace,
        name: plan.owner.name,
        uid: plan.owner.uid,
      },
      type,
      reason,
      message,
    );
