import type { RoutingSettings } from '../routes/route-table.ts';
import { AvailableFilter, RoleFilter } from './filters.ts';
import { Scheduler, type Scorer, type WeightedScorer } from './framework.ts';
import { MaxScorePicker, RoundRobinPicker } from './pickers.ts';
import type { PrefixIndex } from './prefix-index.ts';
import { OwnershipTable } from './ownership.ts';
import { PrefixPlacement } from './placement.ts';
import { InFlightScorer } from './scorers/in-flight-scorer.ts';
import { OwnershipScorer } from './scorers/ownership-scorer.ts';
import { KvUsageScorer } from './scorers/kv-usage-scorer.ts';
import { PrecisePrefixScorer } from './scorers/precise-prefix-scorer.ts';
import { PrefixHashScorer } from './scorers/prefix-hash-scorer.ts';
import { QueueScorer } from './scorers/queue-scorer.ts';
import { SessionAffinityScorer } from './scorers/session-affinity-scorer.ts';

export interface ScorerContext {
  loadBound: number;
  prefixIndex: PrefixIndex;
  /** Prefix ownership shifted through the admin API; a private empty table when absent. */
  ownership?: OwnershipTable;
  /** Where the affinity scorers of one scheduler placed prefixes; buildScheduler makes one per scheduler. */
  placement?: PrefixPlacement;
}

/** Every scorer by name. A new strategy is a new scorer file plus one line here. */
const SCORERS: Record<string, (context: ScorerContext) => Scorer> = {
  'in-flight': () => new InFlightScorer(),
  'kv-usage': () => new KvUsageScorer(),
  queue: () => new QueueScorer(),
  'prefix-hash': (c) => new PrefixHashScorer(c.loadBound, c.placement),
  'session-affinity': (c) => new SessionAffinityScorer(c.loadBound, c.placement),
  'precise-prefix': (c) => new PrecisePrefixScorer(c.prefixIndex),
  ownership: (c) => new OwnershipScorer(c.ownership ?? new OwnershipTable()),
};

export type ScorerWeights = Record<string, number>;

/**
 * An ownership shift outweighs every affinity (it is the cache control loop correcting them). Session affinity
 * outweighs prefix hashing, which outweighs the three load scorers together: those two
 * affinities decide, and load acts through their bound and among the remaining endpoints. Precise prefix
 * scores a fraction, so load can outvote a weak match.
 */
const DEFAULT_SCORER_WEIGHTS: ScorerWeights = {
  'in-flight': 1,
  'kv-usage': 1,
  queue: 1,
  'prefix-hash': 4,
  'session-affinity': 8,
  'precise-prefix': 3,
  ownership: 16,
};

const LOAD_SCORERS: Record<RoutingSettings['schedulingPolicy'], string[]> = {
  'round-robin': [],
  'least-loaded': ['in-flight'],
  'gpu-load-aware': ['kv-usage', 'queue', 'in-flight'],
};

const AFFINITY_SCORERS: Record<RoutingSettings['routeStrategy'], string[]> = {
  RoundRobin: [],
  LeastLoaded: [],
  PrefixHash: ['prefix-hash'],
  SessionAffinity: ['session-affinity', 'prefix-hash'],
  PrecisePrefix: ['precise-prefix'],
};

/** The scorer names a route's settings select, in evaluation order. */
export function scorerNames(routing: RoutingSettings): string[] {
  if (routing.routeStrategy === 'RoundRobin') return routing.sessionAffinity ? ['session-affinity'] : [];
  const names = [...AFFINITY_SCORERS[routing.routeStrategy]];
  if (routing.sessionAffinity && !names.includes('session-affinity')) names.unshift('session-affinity');
  // Prefix ownership shifts apply wherever the route routes by affinity.
  if (names.length > 0) names.unshift('ownership');
  const load = LOAD_SCORERS[routing.schedulingPolicy];
  // LeastLoaded with the round-robin policy still needs a load signal: in-flight requests.
  if (load.length === 0 && routing.routeStrategy === 'LeastLoaded') return ['in-flight'];
  return [...names, ...load];
}

/**
 * Builds the scheduler for one route: filters (available, role) → the selected scorers with their weights
 * → a max-score picker, or a round-robin picker when no scorer is selected.
 */
export function buildScheduler(
  routing: RoutingSettings,
  context: ScorerContext,
  weights: ScorerWeights = DEFAULT_SCORER_WEIGHTS,
): Scheduler {
  // One placement per scheduler, shared by its prefix-hash and session-affinity scorers so they agree.
  const shared = { ...context, placement: context.placement ?? new PrefixPlacement(context.prefixIndex) };
  const scorers: WeightedScorer[] = scorerNames(routing).map((name) => ({
    scorer: SCORERS[name]!(shared),
    weight: weights[name] ?? DEFAULT_SCORER_WEIGHTS[name] ?? 1,
  }));
  return new Scheduler({
    filters: [new AvailableFilter(), new RoleFilter()],
    scorers,
    picker: scorers.length === 0 ? new RoundRobinPicker() : new MaxScorePicker(),
  });
}
