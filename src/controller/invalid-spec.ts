import { Reason, KINDS, setCondition, type Condition } from '../api/index.ts';
import { KubeApiError, paths, type KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/objects.ts';
import type { Resource } from './dependency-index.ts';

/**
 * Reports a spec that does not parse as `InvalidSpec` (naming every field) on the resource's status, without
 * starting any work; a resource that served before keeps serving its last good generation.
 */
export async function reportInvalidSpec(kube: KubeClient, obj: Resource, problems: string[]): Promise<void> {
  const plural = KINDS.find((k) => k.kind === obj.kind)?.plural ?? '';
  const path = `${paths.custom(plural, obj.metadata.namespace ?? 'default', obj.metadata.name)}/status`;
  const generation = obj.metadata.generation ?? 1;
  const message = problems.join('; ');
  const stored = (obj as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
  const now = new Date();
  let conditions = setCondition(
    stored,
    {
      type: 'InvalidSpec',
      status: 'True',
      reason: Reason.SpecInvalid,
      message,
      observedGeneration: generation,
    },
    now,
  );
  if (!stored.some((c) => c.type === 'Ready'))
    conditions = setCondition(
      conditions,
      { type: 'Ready', status: 'False', reason: Reason.InvalidSpec, message, observedGeneration: generation },
      now,
    );
  try {
    await kube.mergePatch<KubeObject>(path, { status: { conditions, phase: 'InvalidSpec' } });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
    throw err;
  }
}
