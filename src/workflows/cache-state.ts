/** The InferenceCache workflow's plain-JSON state, its policy in force, and its workflow metrics. */
import { ApplicationFailure, metricMeter } from '@temporalio/workflow';
import type { InferenceCacheSpec } from '../api/index.ts';
import { parseDuration } from '../api/duration.ts';
import {
  effectivePolicy,
  type CacheAction,
  type CacheLoopState,
  type CachePolicy,
  type PolicyOverride,
  type PoolView,
} from './cache-policy.ts';
import { steps } from './activities.ts';
import type { EntityState } from './entity.ts';
import type { ForceEvictRequest, ForceTransferRequest } from './messages.ts';

export interface CacheData {
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

export type CacheState = EntityState<InferenceCacheSpec, CacheData>;

/** A replica is hot when it takes 1.5x the mean share of queried tokens. */
const HOT_SHARE = 1.5;

/** How long a transfer's ownership shift lasts in the gateways. */
export const OWNERSHIP_TTL_SECONDS = 3600;

/** The policy in force: the spec's with an unexpired setPolicy override on top. */
export function policyNow(state: CacheState, now: number): CachePolicy {
  return effectivePolicy(policyOf(requireSpec(state)), state.data.policyOverride, now);
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
  thresholdHitRate: () =>
    metricMeter.createGauge(
      'inference_cache_threshold_hit_rate',
      'float',
      'ratio',
      'thresholdHitRate in force (the spec, or a setPolicy override)',
    ),
  evictionThreshold: () =>
    metricMeter.createGauge(
      'inference_cache_eviction_threshold',
      'float',
      'ratio',
      'evictionThreshold in force (the spec, or a setPolicy override)',
    ),
  replicaHitRate: () =>
    metricMeter.createGauge(
      'inference_cache_replica_hit_rate',
      'float',
      'ratio',
      'Windowed prefix-cache hit rate of each replica, by replica',
    ),
  replicaKvUsage: () =>
    metricMeter.createGauge(
      'inference_cache_replica_kv_usage',
      'float',
      'ratio',
      'KV-cache usage of each replica at the last poll, by replica',
    ),
};

/** The loop's view of its pool and the thresholds it compares against, as gauges. */
export function recordView(state: CacheState, view: PoolView, policy: CachePolicy): void {
  const resource = { resource: `${state.namespace}/${state.name}` };
  if (view.poolHitRate !== undefined) metrics.poolHitRate().set(view.poolHitRate, resource);
  if (view.maxKvUsage !== undefined) metrics.maxKvUsage().set(view.maxKvUsage, resource);
  metrics.thresholdHitRate().set(policy.thresholdHitRate, resource);
  metrics.evictionThreshold().set(policy.evictionThreshold, resource);
  for (const r of view.replicas) {
    const labels = { ...resource, replica: r.name };
    if (r.hitRate !== undefined) metrics.replicaHitRate().set(r.hitRate, labels);
    if (r.kvUsage !== undefined) metrics.replicaKvUsage().set(r.kvUsage, labels);
  }
}

export function countAction(state: CacheState, action: string, manual: boolean, outcome: string): void {
  metrics.actions().add(1, {
    resource: `${state.namespace}/${state.name}`,
    action,
    trigger: manual ? 'manual' : 'automatic',
    outcome,
  });
}

/** The spec's policy (the controller parsed the spec, so every default is there). */
function policyOf(spec: InferenceCacheSpec): CachePolicy {
  const policy = spec.kvCacheTransferPolicy;
  return {
    thresholdHitRate: policy.thresholdHitRate,
    evictionThreshold: policy.evictionThreshold,
    sustainedPolls: policy.sustainedPolls,
    cooldownMs: parseDuration(policy.cooldown),
    windowMs: parseDuration(spec.window),
    hotShare: HOT_SHARE,
  };
}

/** The spec, for the override handlers (their validators refuse a request before the first spec). */
export function requireSpec(state: CacheState): InferenceCacheSpec {
  if (state.spec === undefined) throw ApplicationFailure.nonRetryable('the InferenceCache has no spec yet');
  return state.spec;
}

/** The ready replicas of the services that use this cache, as they publish them. */
export function cacheReplicas(state: CacheState, spec: InferenceCacheSpec) {
  return steps.findCacheReplicas({
    namespace: state.namespace,
    model: spec.modelName,
    cacheName: state.name,
  });
}
