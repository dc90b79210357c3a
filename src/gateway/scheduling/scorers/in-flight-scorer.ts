import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';

/** least-loaded: fewer requests in flight from this gateway scores higher (1 - n / (max + 1)). */
export class InFlightScorer implements Scorer {
  readonly name = 'in-flight';
  readonly category = 'balance' as const;
  score(_request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    let max = 0;
    for (const c of candidates) if (c.inFlight > max) max = c.inFlight;
    for (let i = 0; i < candidates.length; i++) out[i] = 1 - candidates[i]!.inFlight / (max + 1);
  }
}
