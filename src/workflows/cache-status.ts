/** The InferenceCache's status: pool and replica numbers, the last action, overrides; written only on change. */
import type { ConditionUpdate } from '../api/index.ts';
import { Reason } from '../api/reasons.ts';
import { steps } from './activities.ts';
import type { PolicyOverride } from './cache-policy.ts';
import type { SetPolicyResult } from './messages.ts';
import { requireSpec, type CacheState } from './cache-state.ts';
import { setPhase } from './phase.ts';

/** `now`: the tick's time when a tick writes it (taken before the tick's read), for the override's expiry. */
export async function writeStatus(state: CacheState, force: boolean, now = Date.now()): Promise<void> {
  const spec = requireSpec(state);
  const { loop, view, services } = state.data;
  const last = loop.lastAction;
  const fields = {
    services,
    ...(view?.poolHitRate !== undefined ? { poolHitRate: round(view.poolHitRate) } : {}),
    ...(view?.maxKvUsage !== undefined ? { maxKvUsage: round(view.maxKvUsage) } : {}),
    replicas: (view?.replicas ?? []).map((r) => ({
      name: r.name,
      ...(r.hitRate !== undefined ? { hitRate: round(r.hitRate) } : {}),
      ...(r.kvUsage !== undefined ? { kvUsage: round(r.kvUsage) } : {}),
    })),
    ...(last
      ? {
          lastAction: {
            action: last.action,
            target: last.to ? `${last.target} -> ${last.to}` : last.target,
            reason: last.reason,
            time: last.time,
            manual: last.manual,
            ...(last.effect ? { effect: last.effect } : {}),
          },
        }
      : {}),
    evictions: loop.evictions,
    transfers: loop.transfers,
    // null removes a field (the status is merge-patched).
    lastFailure: state.data.lastFailure ?? null,
    suppressedAction: state.data.suppressed
      ? {
          action: state.data.suppressed.action,
          target: state.data.suppressed.to
            ? `${state.data.suppressed.target} -> ${state.data.suppressed.to}`
            : state.data.suppressed.target,
          reason: state.data.suppressed.reason,
          time: state.data.suppressed.time,
        }
      : null,
    actionsPaused: state.data.actionsPaused !== undefined,
    policyOverride:
      state.data.policyOverride && state.data.policyOverride.expiresAt > now
        ? describeOverride(state.data.policyOverride)
        : null,
  };
  const message = services.length
    ? `serving ${services.join(', ')}; pool hit rate ${view?.poolHitRate === undefined ? 'unknown' : `${(view.poolHitRate * 100).toFixed(1)}%`}`
    : `no InferenceService of model "${spec.modelName}" references this cache`;
  const digest = JSON.stringify({ fields, message });
  setPhase(state, 'Ready', message);
  if (!force && digest === state.data.written) return;
  state.data.written = digest;
  const conditions: ConditionUpdate[] = [
    {
      type: 'Ready',
      status: 'True',
      reason: services.length ? Reason.Published : Reason.NoServices,
      message,
    },
    { type: 'InvalidSpec', status: 'False', reason: Reason.SpecValid },
  ];
  await steps.writeStatus({
    kind: state.kind,
    namespace: state.namespace,
    name: state.name,
    fields,
    conditions,
    observedGeneration: state.generation,
  });
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

export function describeOverride(o: PolicyOverride): NonNullable<SetPolicyResult['override']> {
  return {
    ...(o.thresholdHitRate !== undefined ? { thresholdHitRate: o.thresholdHitRate } : {}),
    ...(o.evictionThreshold !== undefined ? { evictionThreshold: o.evictionThreshold } : {}),
    ...(o.sustainedPolls !== undefined ? { sustainedPolls: o.sustainedPolls } : {}),
    ...(o.cooldownMs !== undefined ? { cooldown: `${o.cooldownMs / 1000}s` } : {}),
    expiresAt: new Date(o.expiresAt).toISOString(),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}
