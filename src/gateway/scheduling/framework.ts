import type { ServingRole } from '../../api/index.ts';
import type { EndpointState } from '../endpoints/endpoint-state.ts';

/** What the scheduler knows about a request. Built once per request, before scheduling. */
export interface SchedulingRequest {
  model: string;
  /** Chained prompt-prefix block hashes (see prefix-blocks.ts). */
  blocks: readonly number[];
  /**
   * How many leading blocks come before the newest message (a chat's conversation so far); 0 when the
   * request is one prompt. Affinity keys use this part, so every turn of a conversation keys alike.
   */
  contextBlocks: number;
  /** The prefix's affinity key (see affinityKey), computed once per request; scorers compute it when absent. */
  prefixKey?: number;
  /** The session key (session header, else the OpenAI `user` field), when there is one. */
  sessionKey?: string;
  /** The role the chosen endpoint must serve: `both` for a plain request, prefill or decode for P/D. */
  role: ServingRole;
  /** Endpoints already tried for this request (retries go elsewhere). */
  exclude?: ReadonlySet<EndpointState>;
  now: number;
}

/** Removes endpoints that must not receive the request. */
export interface Filter {
  readonly name: string;
  filter(request: SchedulingRequest, candidates: EndpointState[]): EndpointState[];
}

export type ScorerCategory = 'affinity' | 'distribution' | 'balance';

/** Rates each candidate in [0, 1]; a higher score is a better choice. Reads attributes, never fetches. */
export interface Scorer {
  readonly name: string;
  readonly category: ScorerCategory;
  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void;
  /** Called with the endpoint that was picked, for scorers that learn from decisions. */
  picked?(request: SchedulingRequest, endpoint: EndpointState): void;
}

/** Chooses one candidate from the weighted sums of the scores. */
export interface Picker {
  readonly name: string;
  pick(candidates: readonly EndpointState[], totals: Float64Array): number;
}

export interface WeightedScorer {
  scorer: Scorer;
  weight: number;
}

export interface SchedulingProfile {
  filters: Filter[];
  scorers: WeightedScorer[];
  picker: Picker;
}

export interface Decision {
  endpoint: EndpointState;
  /** The scorer that contributed most to the chosen endpoint, or the picker when no scorer ran. */
  decidedBy: string;
}

export class NoCandidateError extends Error {
  constructor(
    readonly model: string,
    readonly role: ServingRole,
    readonly total: number,
  ) {
    super(
      total === 0
        ? `model "${model}" has no ${role === 'both' ? '' : `${role} `}endpoints`
        : `none of the ${total} endpoints of model "${model}" can take the request (all unready, unhealthy, ejected or already tried)`,
    );
  }
}

/** Runs one profile: filters, then weighted scorers, then the picker. */
export class Scheduler {
  private scores = new Float64Array(64);
  private totals = new Float64Array(64);

  constructor(readonly profile: SchedulingProfile) {}

  schedule(request: SchedulingRequest, endpoints: EndpointState[]): Decision {
    let candidates = endpoints;
    for (const filter of this.profile.filters) candidates = filter.filter(request, candidates);
    const n = candidates.length;
    if (n === 0) throw new NoCandidateError(request.model, request.role, endpoints.length);
    if (this.totals.length < n) {
      this.scores = new Float64Array(n * 2);
      this.totals = new Float64Array(n * 2);
    }
    const totals = this.totals.subarray(0, n);
    totals.fill(0);
    const scores = this.scores.subarray(0, n);
    let decidedBy = this.profile.picker.name;
    let best = -1;
    const contributions: number[][] = [];
    for (const { scorer, weight } of this.profile.scorers) {
      scores.fill(0);
      scorer.score(request, candidates, scores);
      const contribution: number[] = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const s = scores[i]! * weight;
        totals[i]! += s;
        contribution[i] = s;
      }
      contributions.push(contribution);
    }
    const index = this.profile.picker.pick(candidates, totals);
    const endpoint = candidates[index]!;
    for (let k = 0; k < contributions.length; k++) {
      const c = contributions[k]![index]!;
      if (c > best) {
        best = c;
        decidedBy = this.profile.scorers[k]!.scorer.name;
      }
    }
    for (const { scorer } of this.profile.scorers) scorer.picked?.(request, endpoint);
    return { endpoint, decidedBy };
  }
}
