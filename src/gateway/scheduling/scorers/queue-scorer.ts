import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';

/** gpu-load-aware: the scraped engine queue (waiting requests); a longer queue scores lower. */
export class QueueScorer implements Scorer {
  readonly name = 'queue';
  readonly category = 'balance' as const;
  score(_request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    let max = 0;
    for (const c of candidates) if ((c.waiting ?? 0) > max) max = c.waiting ?? 0;
    for (let i = 0; i < candidates.length; i++) out[i] = 1 - (candidates[i]!.waiting ?? 0) / (max + 1);
  }
}
