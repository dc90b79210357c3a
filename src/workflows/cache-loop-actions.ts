/** The InferenceCache loop's actions, evict and transfer, one at a time, each recorded with its reason. */
import { ApplicationFailure, log } from '@temporalio/workflow';
import { cacheActions } from './activities.ts';
import { recordAction, recordFailedAction, type CacheAction } from './cache-policy.ts';
import {
  cacheReplicas,
  countAction,
  OWNERSHIP_TTL_SECONDS,
  policyNow,
  requireSpec,
  type CacheState,
} from './cache-state.ts';

/**
 * One cache action at a time: an operator's forceEvict/forceTransfer update and the loop's own action would
 * otherwise run their activities interleaved (the safe-message-handlers sample's Mutex). Deterministic: a
 * promise chain inside the workflow.
 */
class ActionLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(action: () => Promise<T>): Promise<T> {
    const result = this.tail.then(action);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
const actionLock = new ActionLock();

export function evict(
  state: CacheState,
  target: string,
  reason: string,
  manual: boolean,
): Promise<CacheAction> {
  return actionLock.run(() => evictNow(state, target, reason, manual));
}

export function transfer(
  state: CacheState,
  from: string,
  to: string,
  reason: string,
  manual: boolean,
): Promise<CacheAction> {
  return actionLock.run(() => transferNow(state, from, to, reason, manual));
}

async function evictNow(
  state: CacheState,
  target: string,
  reason: string,
  manual: boolean,
): Promise<CacheAction> {
  const spec = requireSpec(state);
  const replicas = await cacheReplicas(state, spec);
  const replica = replicas.find((r) => r.name === target);
  // An ApplicationFailure rejects a forceEvict update; a plain Error would fail the workflow task instead.
  if (!replica) throw unknownReplica(target, spec.modelName, replicas);
  try {
    await cacheActions.evictCache({ replica, reason });
  } catch (err) {
    failed(state, 'Evict', target, manual, err);
    throw ApplicationFailure.nonRetryable(`evicting ${target} failed: ${causeOf(err)}`);
  }
  const action: CacheAction = { action: 'Evict', target, reason, time: new Date().toISOString(), manual };
  recordAction(state.data.loop, action, Date.now());
  countAction(state, 'Evict', manual, 'done');
  log.info('cache action', { ...action });
  return action;
}

/**
 * Transfer: the gateways move the hottest prefixes of `from` to `to` and `to` is warmed with prefill-only
 * replays; the next polls verify the effect on the pool hit rate.
 */
async function transferNow(
  state: CacheState,
  from: string,
  to: string,
  reason: string,
  manual: boolean,
): Promise<CacheAction> {
  const spec = requireSpec(state);
  if (from === to)
    throw ApplicationFailure.nonRetryable(`a transfer needs two replicas; got "${from}" twice`);
  const replicas = await cacheReplicas(state, spec);
  const source = replicas.find((r) => r.name === from);
  const target = replicas.find((r) => r.name === to);
  if (!source) throw unknownReplica(from, spec.modelName, replicas);
  if (!target) throw unknownReplica(to, spec.modelName, replicas);
  if ((source.role ?? 'both') !== (target.role ?? 'both'))
    throw ApplicationFailure.nonRetryable(
      `${from} serves ${source.role ?? 'both'} and ${to} serves ${target.role ?? 'both'}: prefixes move only between replicas of one role`,
    );
  let result;
  try {
    result = await cacheActions.transferCache({
      model: spec.modelName,
      namespace: state.namespace,
      from: source,
      to: target,
      ttlSeconds: OWNERSHIP_TTL_SECONDS,
      reason,
    });
  } catch (err) {
    failed(state, 'Transfer', `${from} -> ${to}`, manual, err);
    throw ApplicationFailure.nonRetryable(`transferring ${from} -> ${to} failed: ${causeOf(err)}`);
  }
  const action: CacheAction = {
    action: 'Transfer',
    target: from,
    to,
    reason: `${reason}; moved ${result.moved} hot prefixes, warmed ${result.warmed}${result.failed ? ` (${result.failed} replays failed)` : ''}`,
    time: new Date().toISOString(),
    manual,
  };
  const now = Date.now();
  recordAction(state.data.loop, action, now, state.data.view, policyNow(state, now).sustainedPolls);
  countAction(state, 'Transfer', manual, 'done');
  log.info('cache action', { ...action });
  return action;
}

function unknownReplica(name: string, model: string, replicas: { name: string }[]): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `replica "${name}" is not a ready replica of ${model} (known: ${replicas.map((r) => r.name).join(', ') || 'none'})`,
  );
}

export function causeOf(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e.cause?.message ?? e.message ?? String(err);
}

/** Records a failed action: status, metrics, and the cooldown so it is not retried on every poll. */
function failed(state: CacheState, action: string, target: string, manual: boolean, err: unknown): void {
  state.data.lastFailure = { action, target, error: causeOf(err), time: new Date().toISOString() };
  recordFailedAction(state.data.loop, Date.now());
  countAction(state, action, manual, 'failed');
  log.warn('cache action failed', { ...state.data.lastFailure });
}
