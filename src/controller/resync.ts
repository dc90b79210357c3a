/**
 * What a periodic resync re-delivers. Re-signalling every workflow every minute cost ~30 ms of CPU per
 * resource (issue 16) to tell workflows what they already knew; a resync now compares each object with the
 * last delivery the controller made and re-delivers only what changed since, what was never delivered, and
 * what was delivered to a workflow that is no longer running (terminated, or lost with its history).
 */
import { FINALIZER } from '../api/index.ts';
import type { Resource } from './dependency-index.ts';

/** What the controller last delivered for one object. */
export interface Delivery {
  /** {@link fingerprintOf} of the object as delivered. */
  fingerprint: string;
  /** Whether that delivery was a signal to the object's workflow (an InvalidSpec report starts none). */
  signalled: boolean;
}

export type ResyncVerdict = 'unchanged' | 'changed' | 'missing';

/** What a workflow acts on: the generation of its spec, or that the object is being deleted. */
export function fingerprintOf(obj: Resource): string {
  return obj.metadata.deletionTimestamp ? 'deleted' : `generation:${obj.metadata.generation ?? 1}`;
}

/**
 * Compares one object with its last delivery. `running` holds the IDs of the running workflows, or is
 * undefined when they could not be listed (then no workflow is taken for missing).
 */
export function resyncVerdict(
  obj: Resource,
  last: Delivery | undefined,
  workflowId: string,
  running: ReadonlySet<string> | undefined,
): ResyncVerdict {
  const ours = obj.metadata.finalizers?.includes(FINALIZER) ?? false;
  // Being deleted without our finalizer: nothing left for the controller to do.
  if (obj.metadata.deletionTimestamp !== undefined && !ours) return 'unchanged';
  // Not yet ours: the finalizer is added on delivery.
  if (!ours) return 'changed';
  if (!last || last.fingerprint !== fingerprintOf(obj)) return 'changed';
  if (last.signalled && running && !running.has(workflowId)) return 'missing';
  return 'unchanged';
}
