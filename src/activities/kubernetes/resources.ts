import {
  Reason,
  API_VERSION,
  FINALIZER,
  kindInfo,
  setCondition,
  type Condition,
  type ConditionUpdate,
} from '../../api/index.ts';
import { isDeepStrictEqual } from 'node:util';
import { KubeApiError, paths, type KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { recordEvent } from './events.ts';

export interface ResourceKey {
  kind: string;
  namespace: string;
  name: string;
}

function pluralOf(kind: string): string {
  const info = kindInfo(kind);
  if (!info) throw new Error(`unknown kind ${kind}`);
  return info.plural;
}

const resourcePath = (key: ResourceKey) => paths.custom(pluralOf(key.kind), key.namespace, key.name);

export interface StatusUpdate extends ResourceKey {
  /** Fields of the kind's status other than conditions; undefined values are left alone. */
  fields?: Record<string, unknown>;
  conditions?: ConditionUpdate[];
  /** Set as status.observedGeneration and on every condition. */
  observedGeneration?: number;
  /** A Kubernetes Event to record with the write. */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
  /** A wait has ended: a condition still True with a waiting reason turns False (reason Resumed). */
  resolveWaits?: boolean;
}

/** The reasons a workflow writes while a step waits out a transient fault (see entity.ts). */
const WAIT_REASONS: readonly string[] = [Reason.WaitingForAPIServer, Reason.WaitingToRetry];

/**
 * Writes status through the /status subresource. Conditions are merged with what is stored, with
 * metav1.Condition semantics (lastTransitionTime moves only when a status flips).
 */
async function writeResourceStatus(kube: KubeClient, update: StatusUpdate): Promise<boolean> {
  const path = resourcePath(update);
  const current = await kube.find<
    KubeObject & { status?: Record<string, unknown> & { conditions?: Condition[] } }
  >(path);
  if (!current) return false;
  let conditions = current.status?.conditions ?? [];
  const now = new Date();
  if (update.resolveWaits) {
    for (const c of conditions.filter((c) => c.status === 'True' && WAIT_REASONS.includes(c.reason)))
      conditions = setCondition(
        conditions,
        { type: c.type, status: 'False', reason: Reason.Resumed, message: `went on after: ${c.message}` },
        now,
      );
  }
  for (const c of update.conditions ?? []) {
    conditions = setCondition(
      conditions,
      {
        ...c,
        ...(update.observedGeneration !== undefined ? { observedGeneration: update.observedGeneration } : {}),
      },
      now,
    );
  }
  const status: Record<string, unknown> = { ...(update.fields ?? {}), conditions };
  if (update.observedGeneration !== undefined) status.observedGeneration = update.observedGeneration;
  try {
    if (!storedAlready(current.status, status)) await kube.mergePatch(`${path}/status`, { status });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return false;
    throw err;
  }
  if (update.event) {
    await recordEvent(
      kube,
      {
        apiVersion: API_VERSION,
        kind: update.kind,
        namespace: update.namespace,
        name: update.name,
        uid: current.metadata.uid,
      },
      update.event.type,
      update.event.reason,
      update.event.message,
    );
  }
  return true;
}

/**
 * Whether a merge patch of `status` would change nothing stored: then it is not sent, and neither the API
 * server nor the watches (the controller's, the gateways') see a write (issue 16). Compared as JSON, so a field
 * left undefined is left alone and a null one must be absent.
 */
function storedAlready(
  stored: Record<string, unknown> | undefined,
  status: Record<string, unknown>,
): boolean {
  const sent = JSON.parse(JSON.stringify(status)) as Record<string, unknown>;
  return Object.entries(sent).every(([field, value]) =>
    value === null
      ? stored?.[field] === undefined || stored[field] === null
      : isDeepStrictEqual(stored?.[field], value),
  );
}

/** Removes our finalizer so Kubernetes can delete the resource. */
async function releaseFinalizer(kube: KubeClient, key: ResourceKey): Promise<void> {
  const path = resourcePath(key);
  const current = await kube.find(path);
  const finalizers = current?.metadata.finalizers ?? [];
  const index = finalizers.indexOf(FINALIZER);
  if (!current || index < 0) return;
  await kube.jsonPatch(path, [
    { op: 'test', path: `/metadata/finalizers/${index}`, value: FINALIZER },
    { op: 'remove', path: `/metadata/finalizers/${index}` },
  ]);
}

/** The status writes and the finalizer release, on the API server `kube` reaches. */
export const resourceActivities = (kube: KubeClient) => ({
  writeStatus: (update: StatusUpdate) => writeResourceStatus(kube, update),
  releaseFinalizer: (key: ResourceKey) => releaseFinalizer(kube, key),
});
