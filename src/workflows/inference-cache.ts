/**
 * The InferenceCache workflow: publishes the cache settings to the services of its model (their rollouts pick
 * them up through the dependency index) and runs the observe-and-act loop. Every poll scrapes each replica;
 * cache-policy.ts turns the polls into windowed hit rates and decisions; an eviction is an activity whose
 * input carries the numbers that triggered it, so the Temporal history is the audit trail.
 */
import {
  ApplicationFailure,
  continueAsNew,
  log,
  metricMeter,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { parseDuration, type ConditionUpdate, type InferenceCacheSpec } from '../api/index.ts';
import { cacheActions, steps } from './activities.ts';
import {
  decide,
  effectivePolicy,
  emptyCacheLoopState,
  recordAction,
  recordFailedAction,
  recordPoll,
  recordVerification,
  type CacheAction,
  type CacheLoopState,
  type CachePolicy,
  type PolicyOverride,
  type PoolView,
} from './cache-policy.ts';
import { ignore, initialState, runEntity, setPhase, type EntityState } from './entity.ts';
import type { ResourceWorkflowInput } from './inference-service.ts';
import {
  forceEvictSignal,
  forceEvictUpdate,
  forceTransferSignal,
  forceTransferUpdate,
  pauseActionsSignal,
  pauseActionsUpdate,
  resumeActionsSignal,
  resumeActionsUpdate,
  setPolicySignal,
  setPolicyUpdate,
  type ForceEvictRequest,
  type ForceTransferRequest,
  type PauseRequest,
  type SetPolicyRequest,
} from './messages.ts';
import { ModelName } from './search-attributes.ts';

interface CacheData {
  loop: CacheLoopState;
  /** Digest of the status last written. */
  written?: string;
  services: string[];
  view?: PoolView;
  /** The poll interval the workflow was started with (tests, dev); otherwise the spec's pollInterval. */
  pollOverrideMs?: number;
  /** Forced evictions received as signals, run on the next loop iteration. */
  pending: ForceEvictRequest[];
  /** Forced transfers received as signals, run on the next loop iteration. */
  pendingTransfers?: ForceTransferRequest[];
  /** Thresholds set with setPolicy, until they expire. */
  policyOverride?: PolicyOverride;
  /** Automatic actions are paused (pauseActions); the loop still polls and reports. */
  actionsPaused?: { reason?: string; since: string };
  /** The last automatic decision not acted on because actions were paused. */
  suppressed?: CacheAction;
  /** The last action that failed. */
  lastFailure?: { action: string; target: string; error: string; time: string };
}

type CacheState = EntityState<CacheData>;

/** A replica is hot when it takes 1.5x the mean share of queried tokens. */
const HOT_SHARE = 1.5;

/** How long a transfer's ownership shift lasts in the gateways. */
const OWNERSHIP_TTL_SECONDS = 3600;

/** The policy in force: the spec's with an unexpired setPolicy override on top. */
function policyNow(state: CacheState, now: number): CachePolicy {
  return effectivePolicy(policyOf(state.spec as InferenceCacheSpec), state.data.policyOverride, now);
}

/** Decisions and pool numbers as workflow metrics (exported by the worker's Prometheus endpoint, not on replay). */
const metrics = {
  actions: () =>
    metricMeter.createCounter(
      'inference_cache_actions',
      'actions',
      'Cache actions of the InferenceCache loop, by action, trigger (automatic, manual) and outcome (done, failed, suppressed)',
    ),
  poolHitRate: () =>
    metricMeter.createGauge(
      'inference_cache_pool_hit_rate',
      'float',
      'ratio',
      'Windowed pool prefix-cache hit rate',
    ),
  maxKvUsage: () =>
    metricMeter.createGauge(
      'inference_cache_max_kv_usage',
      'float',
      'ratio',
      'Highest KV-cache usage of a replica',
    ),
};

function countAction(state: CacheState, action: string, manual: boolean, outcome: string): void {
  metrics.actions().add(1, {
    resource: `${state.namespace}/${state.name}`,
    action,
    trigger: manual ? 'manual' : 'automatic',
    outcome,
  });
}

/** The spec's policy; the API server fills the defaults, these are for a spec written before a field existed. */
function policyOf(spec: InferenceCacheSpec): CachePolicy {
  const policy = spec.kvCacheTransferPolicy as
    Partial<InferenceCacheSpec['kvCacheTransferPolicy']> | undefined;
  return {
    thresholdHitRate: policy?.thresholdHitRate ?? 0.8,
    evictionThreshold: policy?.evictionThreshold ?? 0.9,
    sustainedPolls: policy?.sustainedPolls ?? 3,
    cooldownMs: parseDuration(policy?.cooldown ?? '5m'),
    windowMs: parseDuration(spec.window ?? '2m'),
    hotShare: HOT_SHARE,
  };
}

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

function evict(state: CacheState, target: string, reason: string, manual: boolean): Promise<CacheAction> {
  return actionLock.run(() => evictNow(state, target, reason, manual));
}

function transfer(
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
  const spec = state.spec as InferenceCacheSpec;
  const replicas = await steps.findCacheReplicas({
    namespace: state.namespace,
    model: spec.modelName,
    cacheName: state.name,
  });
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
  const spec = state.spec as InferenceCacheSpec;
  if (from === to)
    throw ApplicationFailure.nonRetryable(`a transfer needs two replicas; got "${from}" twice`);
  const replicas = await steps.findCacheReplicas({
    namespace: state.namespace,
    model: spec.modelName,
    cacheName: state.name,
  });
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

function causeOf(err: unknown): string {
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

async function writeStatus(state: CacheState, force: boolean): Promise<void> {
  const spec = state.spec as InferenceCacheSpec;
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
      state.data.policyOverride && state.data.policyOverride.expiresAt > Date.now()
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
    { type: 'Ready', status: 'True', reason: services.length ? 'Published' : 'NoServices', message },
    { type: 'InvalidSpec', status: 'False', reason: 'SpecValid' },
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

function describeOverride(o: PolicyOverride) {
  return {
    ...(o.thresholdHitRate !== undefined ? { thresholdHitRate: o.thresholdHitRate } : {}),
    ...(o.evictionThreshold !== undefined ? { evictionThreshold: o.evictionThreshold } : {}),
    ...(o.sustainedPolls !== undefined ? { sustainedPolls: o.sustainedPolls } : {}),
    ...(o.cooldownMs !== undefined ? { cooldown: `${o.cooldownMs / 1000}s` } : {}),
    expiresAt: new Date(o.expiresAt).toISOString(),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}

/** Checks a setPolicy request; returns the override it sets (undefined for clear) or throws what is wrong. */
function parsePolicyRequest(request: SetPolicyRequest, now: number): PolicyOverride | undefined {
  if (typeof request !== 'object' || request === null) throw new Error('setPolicy takes an object');
  if (request.clear === true) return undefined;
  const ratio = (key: 'thresholdHitRate' | 'evictionThreshold') => {
    const v = request[key];
    if (v !== undefined && (typeof v !== 'number' || v < 0 || v > 1))
      throw new Error(`setPolicy: ${key} must be a number between 0 and 1, not ${JSON.stringify(v)}`);
    return v;
  };
  const thresholdHitRate = ratio('thresholdHitRate');
  const evictionThreshold = ratio('evictionThreshold');
  const sustained = request.sustainedPolls;
  if (sustained !== undefined && (!Number.isInteger(sustained) || sustained < 1))
    throw new Error(`setPolicy: sustainedPolls must be a positive integer, not ${JSON.stringify(sustained)}`);
  const duration = (key: 'cooldown' | 'expiresIn', text: string | undefined) => {
    if (text === undefined) return undefined;
    try {
      return parseDuration(text);
    } catch {
      throw new Error(
        `setPolicy: ${key} must be a duration such as 30s, 5m or 1h, not ${JSON.stringify(text)}`,
      );
    }
  };
  const cooldownMs = duration('cooldown', request.cooldown);
  const expiresInMs = duration('expiresIn', request.expiresIn) ?? 3_600_000;
  if (expiresInMs <= 0) throw new Error('setPolicy: expiresIn must be positive');
  if ([thresholdHitRate, evictionThreshold, sustained, cooldownMs].every((v) => v === undefined))
    throw new Error(
      'setPolicy needs at least one of thresholdHitRate, evictionThreshold, sustainedPolls, cooldown (or clear: true)',
    );
  return {
    ...(thresholdHitRate !== undefined ? { thresholdHitRate } : {}),
    ...(evictionThreshold !== undefined ? { evictionThreshold } : {}),
    ...(sustained !== undefined ? { sustainedPolls: sustained } : {}),
    ...(cooldownMs !== undefined ? { cooldownMs } : {}),
    expiresAt: now + expiresInMs,
    ...(request.reason ? { reason: request.reason } : {}),
  };
}

const forcedReason = (reason?: string) => `forced by an operator${reason ? `: ${reason}` : ''}`;

function validEvict(request: ForceEvictRequest): boolean {
  return typeof request?.replica === 'string' && request.replica.length > 0;
}

function validTransfer(request: ForceTransferRequest): boolean {
  return (
    typeof request === 'object' &&
    request !== null &&
    typeof request.from === 'string' &&
    request.from.length > 0 &&
    typeof request.to === 'string' &&
    request.to.length > 0
  );
}

export async function InferenceCacheWorkflow(input: ResourceWorkflowInput): Promise<void> {
  const state =
    (input.state as CacheState | undefined) ??
    initialState<CacheData>(
      { kind: 'InferenceCache', ...input },
      {
        loop: emptyCacheLoopState(),
        services: [],
        pending: [],
        ...(input.pollIntervalMs !== undefined ? { pollOverrideMs: input.pollIntervalMs } : {}),
      },
    );

  setHandler(
    forceEvictUpdate,
    async (request) => {
      const action = await evict(state, request.replica, forcedReason(request.reason), true);
      await writeStatus(state, false);
      return action;
    },
    {
      validator: (request) => {
        if (!validEvict(request))
          throw new Error('forceEvict takes {replica: <replica name>, reason?: string}');
        if (state.spec === undefined) throw new Error('the InferenceCache has no spec yet');
      },
    },
  );
  setHandler(forceEvictSignal, (request) => {
    if (!validEvict(request)) return ignore(state, `forceEvict: ${JSON.stringify(request)?.slice(0, 200)}`);
    state.data.pending.push(request);
    state.dirty = true;
  });

  setHandler(
    forceTransferUpdate,
    async (request) => {
      const action = await transfer(state, request.from, request.to, forcedReason(request.reason), true);
      await writeStatus(state, false);
      return action;
    },
    {
      validator: (request) => {
        if (!validTransfer(request))
          throw new Error('forceTransfer takes {from: <replica>, to: <replica>, reason?: string}');
        if (state.spec === undefined) throw new Error('the InferenceCache has no spec yet');
      },
    },
  );
  setHandler(forceTransferSignal, (request) => {
    if (!validTransfer(request))
      return ignore(state, `forceTransfer: ${JSON.stringify(request)?.slice(0, 200)}`);
    (state.data.pendingTransfers ??= []).push(request);
    state.dirty = true;
  });

  const setPolicy = (request: SetPolicyRequest) => {
    state.data.policyOverride = parsePolicyRequest(request, Date.now());
    log.info('cache policy override', {
      override: state.data.policyOverride ? describeOverride(state.data.policyOverride) : 'cleared',
    });
    state.dirty = true;
    return {
      policy: policyNow(state, Date.now()),
      override: state.data.policyOverride ? describeOverride(state.data.policyOverride) : null,
    };
  };
  setHandler(setPolicyUpdate, setPolicy, {
    validator: (request) => {
      parsePolicyRequest(request, Date.now());
    },
  });
  setHandler(setPolicySignal, (request) => {
    try {
      setPolicy(request);
    } catch (err) {
      ignore(state, `setPolicy: ${(err as Error).message}`);
    }
  });

  const pauseActions = (request?: PauseRequest) => {
    state.data.actionsPaused = {
      ...(request?.reason ? { reason: request.reason } : {}),
      since: new Date().toISOString(),
    };
    state.dirty = true;
    return { actionsPaused: true, ...state.data.actionsPaused };
  };
  const resumeActions = () => {
    state.data.actionsPaused = undefined;
    state.data.suppressed = undefined;
    state.dirty = true;
    return { actionsPaused: false };
  };
  setHandler(pauseActionsUpdate, pauseActions);
  setHandler(pauseActionsSignal, (request) => void pauseActions(request));
  setHandler(resumeActionsUpdate, resumeActions);
  setHandler(resumeActionsSignal, () => void resumeActions());

  const poll = async () => {
    const spec = state.spec as InferenceCacheSpec;
    const replicas = await steps.findCacheReplicas({
      namespace: state.namespace,
      model: spec.modelName,
      cacheName: state.name,
    });
    const samples = await steps.scrapeCacheMetrics({ replicas });
    const now = Date.now();
    const policy = policyNow(state, now);
    const view = recordPoll(state.data.loop, samples, now, policy);
    state.data.view = view;
    const resource = { resource: `${state.namespace}/${state.name}` };
    if (view.poolHitRate !== undefined) metrics.poolHitRate().set(view.poolHitRate, resource);
    if (view.maxKvUsage !== undefined) metrics.maxKvUsage().set(view.maxKvUsage, resource);
    const verified = recordVerification(state.data.loop, view);
    if (verified) log.info('transfer verified', { ...verified });
    const decision = decide(state.data.loop, view, now, policy);
    if (!decision) return;
    if (state.data.actionsPaused) {
      // Seen and reported, not acted on; the hysteresis keeps counting, so resuming acts on a standing condition.
      if (state.data.suppressed?.reason !== decision.reason) {
        log.info('cache action suppressed: automatic actions are paused', { ...decision });
        countAction(state, decision.action, false, 'suppressed');
      }
      state.data.suppressed = decision;
      return;
    }
    try {
      if (decision.action === 'Evict') await evict(state, decision.target, decision.reason, false);
      else await transfer(state, decision.target, decision.to ?? '', decision.reason, false);
    } catch (err) {
      // The replica left between the poll and the action, or refused: recorded; the next polls decide again.
      log.warn('automatic cache action failed', { ...decision, error: causeOf(err) });
    }
  };

  const reconcile = async (force: boolean) => {
    if (state.spec === undefined) return;
    const spec = state.spec as InferenceCacheSpec;
    state.pollIntervalMs = state.data.pollOverrideMs ?? parseDuration(spec.pollInterval ?? '15s');
    upsertSearchAttributes([{ key: ModelName, value: spec.modelName }]);
    state.data.services = await steps.findServicesForModel({
      namespace: state.namespace,
      model: spec.modelName,
      cacheName: state.name,
    });
    for (const request of state.data.pending.splice(0)) {
      try {
        await evict(state, request.replica, forcedReason(request.reason), true);
      } catch (err) {
        log.warn('forced eviction failed', { replica: request.replica, error: causeOf(err) });
      }
    }
    for (const request of (state.data.pendingTransfers ?? []).splice(0)) {
      try {
        await transfer(state, request.from, request.to, forcedReason(request.reason), true);
      } catch (err) {
        log.warn('forced transfer failed', { from: request.from, to: request.to, error: causeOf(err) });
      }
    }
    await writeStatus(state, force);
    if (force) state.reconciledGeneration = state.generation;
  };

  await runEntity(
    state,
    {
      reconcile: () => reconcile(true),
      observe: async () => {
        if (state.spec === undefined) return;
        await poll();
        await reconcile(false);
      },
      details: (s) => ({
        poolHitRate: s.data.view?.poolHitRate,
        evictions: s.data.loop.evictions,
        transfers: s.data.loop.transfers,
        lastAction: s.data.loop.lastAction,
        actionsPaused: s.data.actionsPaused ?? false,
        policy: s.spec ? policyNow(s, Date.now()) : undefined,
      }),
    },
    (s) => continueAsNew({ namespace: s.namespace, name: s.name, state: s }),
  );
}
