/**
 * The InferenceCache decisions as pure functions of the polls: windowed prefix-cache hit rates per replica
 * and for the pool, then Evict or Transfer with hysteresis (the condition must hold for `sustainedPolls`
 * polls in a row) and a cooldown after any action. Deterministic, so it runs inside the workflow and every
 * decision is replayable from history.
 */
import type { ReplicaSample } from '../activities/vllm/cache-actions.ts';

export interface CachePolicy {
  thresholdHitRate: number;
  evictionThreshold: number;
  sustainedPolls: number;
  cooldownMs: number;
  windowMs: number;
  /** A replica is "hot" when its share of the window's queries is at least this multiple of the mean. */
  hotShare: number;
}

interface WindowEntry {
  at: number;
  hits: number;
  queries: number;
}

interface ReplicaHistory {
  url: string;
  role?: string;
  last?: { hits: number; queries: number };
  window: WindowEntry[];
  kvUsage?: number;
  /** Consecutive polls at or above the eviction threshold. */
  fullPolls: number;
  /** Counter resets seen (replica restarts). */
  resets: number;
}

export interface CacheAction {
  action: 'Evict' | 'Transfer';
  /** Evict: the replica; Transfer: the replica that gives up prefixes. */
  target: string;
  /** Transfer: the replica that receives them. */
  to?: string;
  reason: string;
  /** ISO time. */
  time: string;
  manual: boolean;
  /** Transfer: what the polls after it measured (see recordVerification). */
  effect?: string;
}

/** A transfer's effect is checked on the polls after it: the pool hit rate before, and each poll's since. */
export interface PendingVerification {
  before?: number;
  after: number[];
  polls: number;
}

export interface CacheLoopState {
  replicas: Record<string, ReplicaHistory>;
  /** Consecutive polls with the pool hit rate below the threshold while one replica was hot. */
  lowPolls: number;
  lastActionAt?: number;
  lastAction?: CacheAction;
  evictions: number;
  transfers: number;
  verification?: PendingVerification;
}

export interface ReplicaView {
  name: string;
  role: string;
  hitRate?: number;
  kvUsage?: number;
  queries: number;
}

export interface PoolView {
  /** Over the window. */
  poolHitRate?: number;
  /** This poll's queries only (undefined when there were none). */
  pollHitRate?: number;
  maxKvUsage?: number;
  replicas: ReplicaView[];
}

export function emptyCacheLoopState(): CacheLoopState {
  return { replicas: {}, lowPolls: 0, evictions: 0, transfers: 0 };
}

const sum = (entries: WindowEntry[], key: 'hits' | 'queries') => entries.reduce((n, e) => n + e[key], 0);

/**
 * Folds one poll into the state and returns the windowed view. A counter that went down means the replica
 * restarted: its new total is the increase since then. Replicas missing from the poll are forgotten.
 */
export function recordPoll(
  state: CacheLoopState,
  samples: ReplicaSample[],
  now: number,
  policy: CachePolicy,
): PoolView {
  const seen = new Set<string>();
  let pollHits = 0;
  let pollQueries = 0;
  // Decode replicas of a P/D pair receive their KV cache from prefill: their prefix-cache misses are not the
  // pool's. The pool is where prompts are prefilled (unless every replica is a decode one).
  const inPool = (role: string | undefined) => role !== 'decode' || samples.every((s) => s.role === 'decode');
  for (const s of samples) {
    seen.add(s.name);
    const r = (state.replicas[s.name] ??= { url: s.url, window: [], fullPolls: 0, resets: 0 });
    r.url = s.url;
    r.role = s.role;
    if (!s.ok) continue;
    r.kvUsage = s.kvUsage;
    r.fullPolls = s.kvUsage !== undefined && s.kvUsage >= policy.evictionThreshold ? r.fullPolls + 1 : 0;
    if (s.hits !== undefined && s.queries !== undefined) {
      if (r.last) {
        const reset = s.hits < r.last.hits || s.queries < r.last.queries;
        if (reset) r.resets++;
        const dHits = reset ? s.hits : s.hits - r.last.hits;
        const dQueries = reset ? s.queries : s.queries - r.last.queries;
        r.window.push({ at: now, hits: dHits, queries: dQueries });
        if (inPool(s.role)) {
          pollHits += dHits;
          pollQueries += dQueries;
        }
      }
      r.last = { hits: s.hits, queries: s.queries };
    }
    r.window = r.window.filter((e) => e.at > now - policy.windowMs);
  }
  state.replicas = Object.fromEntries(Object.entries(state.replicas).filter(([name]) => seen.has(name)));
  const replicas: ReplicaView[] = Object.entries(state.replicas)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, r]) => {
      const queries = sum(r.window, 'queries');
      return {
        name,
        role: r.role ?? 'both',
        queries,
        kvUsage: r.kvUsage,
        hitRate: queries > 0 ? sum(r.window, 'hits') / queries : undefined,
      };
    });
  const pool = Object.values(state.replicas).filter((r) => inPool(r.role));
  const totalQueries = pool.reduce((n, r) => n + sum(r.window, 'queries'), 0);
  const totalHits = pool.reduce((n, r) => n + sum(r.window, 'hits'), 0);
  const usages = replicas.map((r) => r.kvUsage).filter((u): u is number => u !== undefined);
  return {
    replicas,
    poolHitRate: totalQueries > 0 ? totalHits / totalQueries : undefined,
    pollHitRate: pollQueries > 0 ? pollHits / pollQueries : undefined,
    maxKvUsage: usages.length ? Math.max(...usages) : undefined,
  };
}

const pct = (n: number | undefined) => (n === undefined ? '-' : `${(n * 100).toFixed(1)}%`);

/**
 * The automatic decision after a poll, if any. Evict comes first: a replica whose KV usage stayed at or above
 * evictionThreshold for sustainedPolls polls. Otherwise Transfer: the pool hit rate stayed below
 * thresholdHitRate for sustainedPolls polls while one replica took at least hotShare times the mean share of
 * queries; its prefixes go to the replica with the fewest queries. Nothing happens during the cooldown.
 */
export function decide(
  state: CacheLoopState,
  view: PoolView,
  now: number,
  policy: CachePolicy,
): CacheAction | undefined {
  const hot = hottest(view, policy);
  const low =
    view.poolHitRate !== undefined && view.poolHitRate < policy.thresholdHitRate && hot !== undefined;
  state.lowPolls = low ? state.lowPolls + 1 : 0;
  if (state.lastActionAt !== undefined && now - state.lastActionAt < policy.cooldownMs) return undefined;
  const full = Object.entries(state.replicas)
    .filter(([, r]) => r.fullPolls >= policy.sustainedPolls)
    .sort(([, a], [, b]) => (b.kvUsage ?? 0) - (a.kvUsage ?? 0))[0];
  if (full) {
    const [name, r] = full;
    return {
      action: 'Evict',
      target: name,
      reason: `KV-cache usage ${pct(r.kvUsage)} stayed at or above evictionThreshold ${pct(policy.evictionThreshold)} for ${r.fullPolls} polls`,
      time: new Date(now).toISOString(),
      manual: false,
    };
  }
  if (hot && state.lowPolls >= policy.sustainedPolls) {
    const coolest = [...view.replicas]
      .filter((r) => r.name !== hot.name && r.role === hot.role)
      .sort((a, b) => a.queries - b.queries)[0];
    if (!coolest) return undefined;
    return {
      action: 'Transfer',
      target: hot.name,
      to: coolest.name,
      reason: `pool hit rate ${pct(view.poolHitRate)} stayed below thresholdHitRate ${pct(policy.thresholdHitRate)} for ${state.lowPolls} polls while ${hot.name} took ${hot.queries} of ${view.replicas.filter((r) => r.role === hot.role).reduce((n, r) => n + r.queries, 0)} queried tokens${hot.role === 'both' ? '' : ` of the ${hot.role} replicas`}`,
      time: new Date(now).toISOString(),
      manual: false,
    };
  }
  return undefined;
}

/**
 * The hot replica, if any: among the replicas of one role (prefill, decode, both), the one whose share of the
 * role's queries is at least hotShare times the mean; the role with the most lopsided share wins.
 */
function hottest(view: PoolView, policy: CachePolicy): ReplicaView | undefined {
  let best: { replica: ReplicaView; ratio: number } | undefined;
  for (const role of [...new Set(view.replicas.map((r) => r.role))].sort()) {
    const peers = view.replicas.filter((r) => r.role === role);
    if (peers.length < 2) continue;
    const total = peers.reduce((n, r) => n + r.queries, 0);
    if (total === 0) continue;
    const top = [...peers].sort((a, b) => b.queries - a.queries || a.name.localeCompare(b.name))[0];
    if (!top) continue;
    const ratio = (top.queries * peers.length) / total;
    if (ratio >= policy.hotShare && (!best || ratio > best.ratio)) best = { replica: top, ratio };
  }
  return best?.replica;
}

/**
 * Records an action taken (automatic or manual): starts the cooldown and clears the hysteresis counters. A
 * transfer also starts a fresh window, so the next decisions see only what happened since, and is verified on
 * the next `verifyPolls` polls.
 */
export function recordAction(
  state: CacheLoopState,
  action: CacheAction,
  now: number,
  view?: PoolView,
  verifyPolls = 3,
): void {
  state.lastAction = action;
  state.lastActionAt = now;
  state.lowPolls = 0;
  if (action.action === 'Evict') {
    state.evictions++;
    const r = state.replicas[action.target];
    if (r) r.fullPolls = 0;
  } else {
    state.transfers++;
    for (const r of Object.values(state.replicas)) r.window = [];
    state.verification = { before: view?.poolHitRate, after: [], polls: verifyPolls };
  }
}

/** Starts the cooldown after an action that failed, so a refused action is not retried on every poll. */
export function recordFailedAction(state: CacheLoopState, now: number): void {
  state.lastActionAt = now;
  state.lowPolls = 0;
}

/**
 * Folds a poll into a pending transfer verification. When enough polls with traffic have been seen, returns
 * the effect (the pool hit rate before, the mean of the polls after, and whether it rose) and clears it.
 */
export function recordVerification(
  state: CacheLoopState,
  view: PoolView,
): { effect: string; before?: number; after: number; improved: boolean } | undefined {
  const v = state.verification;
  if (!v || view.pollHitRate === undefined) return undefined;
  v.after.push(view.pollHitRate);
  if (v.after.length < v.polls) return undefined;
  state.verification = undefined;
  const after = v.after.reduce((n, x) => n + x, 0) / v.after.length;
  const improved = v.before === undefined || after > v.before;
  const effect = `pool hit rate ${pct(v.before)} before, ${pct(after)} over the ${v.after.length} polls after: ${improved ? 'rose' : 'did not rise'}`;
  if (state.lastAction?.action === 'Transfer') state.lastAction.effect = effect;
  return { effect, before: v.before, after, improved };
}

/** Thresholds an operator set for a while (setPolicy); they replace the spec's until `expiresAt`. */
export interface PolicyOverride {
  thresholdHitRate?: number;
  evictionThreshold?: number;
  sustainedPolls?: number;
  cooldownMs?: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  reason?: string;
}

/** The policy in force: the spec's, with an unexpired override on top. */
export function effectivePolicy(
  base: CachePolicy,
  override: PolicyOverride | undefined,
  now: number,
): CachePolicy {
  if (!override || override.expiresAt <= now) return base;
  return {
    ...base,
    ...(override.thresholdHitRate !== undefined ? { thresholdHitRate: override.thresholdHitRate } : {}),
    ...(override.evictionThreshold !== undefined ? { evictionThreshold: override.evictionThreshold } : {}),
    ...(override.sustainedPolls !== undefined ? { sustainedPolls: override.sustainedPolls } : {}),
    ...(override.cooldownMs !== undefined ? { cooldownMs: override.cooldownMs } : {}),
  };
}
