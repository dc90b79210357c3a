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
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { parseDuration, type ConditionUpdate, type InferenceCacheSpec } from '../api/index.ts';
import { steps } from './activities.ts';
import {
  decide,
  emptyCacheLoopState,
  recordAction,
  recordPoll,
  type CacheAction,
  type CacheLoopState,
  type CachePolicy,
  type PoolView,
} from './cache-policy.ts';
import { initialState, runEntity, setPhase, type EntityState } from './entity.ts';
import type { ResourceWorkflowInput } from './inference-service.ts';
import { forceEvictSignal, forceEvictUpdate, type ForceEvictRequest } from './messages.ts';
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
}

type CacheState = EntityState<CacheData>;

/** A replica is hot when it takes 1.5x the mean share of queried tokens. */
const HOT_SHARE = 1.5;

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

async function evict(
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
  if (!replica)
    throw ApplicationFailure.nonRetryable(
      `replica "${target}" is not a ready replica of ${spec.modelName} (known: ${replicas.map((r) => r.name).join(', ') || 'none'})`,
    );
  await steps.evictCache({ replica, reason });
  const action: CacheAction = { action: 'Evict', target, reason, time: new Date().toISOString(), manual };
  recordAction(state.data.loop, action, Date.now());
  log.info('cache action', { ...action });
  return action;
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
          },
        }
      : {}),
    evictions: loop.evictions,
    transfers: loop.transfers,
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
      const action = await evict(
        state,
        request.replica,
        `forced by an operator${request.reason ? `: ${request.reason}` : ''}`,
        true,
      );
      await writeStatus(state, false);
      return action;
    },
    {
      validator: (request) => {
        if (typeof request?.replica !== 'string' || request.replica.length === 0)
          throw new Error('forceEvict takes {replica: <replica name>, reason?: string}');
        if (state.spec === undefined) throw new Error('the InferenceCache has no spec yet');
      },
    },
  );
  setHandler(forceEvictSignal, (request) => {
    if (typeof request?.replica !== 'string' || request.replica.length === 0) return;
    state.data.pending.push(request);
    state.dirty = true;
  });

  const poll = async () => {
    const spec = state.spec as InferenceCacheSpec;
    const replicas = await steps.findCacheReplicas({
      namespace: state.namespace,
      model: spec.modelName,
      cacheName: state.name,
    });
    const samples = await steps.scrapeCacheMetrics({ replicas });
    const now = Date.now();
    const policy = policyOf(spec);
    state.data.view = recordPoll(state.data.loop, samples, now, policy);
    const decision = decide(state.data.loop, state.data.view, now, policy);
    // Transfers need the gateway's prefix ownership API, which does not exist yet: only evictions are acted on.
    if (decision?.action === 'Evict') {
      try {
        await evict(state, decision.target, decision.reason, false);
      } catch (err) {
        // The replica left between the poll and the action, or refused: the next polls decide again.
        log.warn('automatic eviction failed', { replica: decision.target, error: (err as Error).message });
      }
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
        await evict(
          state,
          request.replica,
          `forced by an operator${request.reason ? `: ${request.reason}` : ''}`,
          true,
        );
      } catch (err) {
        log.warn('forced eviction failed', { replica: request.replica, error: (err as Error).message });
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
      teardown: async (s) => {
        await steps.releaseFinalizer({ kind: 'InferenceCache', namespace: s.namespace, name: s.name });
      },
      details: (s) => ({
        poolHitRate: s.data.view?.poolHitRate,
        evictions: s.data.loop.evictions,
        lastAction: s.data.loop.lastAction,
      }),
    },
    (s) => continueAsNew({ namespace: s.namespace, name: s.name, state: s }),
  );
}
