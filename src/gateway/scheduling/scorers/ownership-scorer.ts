import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import type { OwnershipTable } from '../ownership.ts';

/**
 * Ownership: a prefix the cache control loop shifted to another endpoint (POST /admin/ownership) goes there
 * while the endpoint can take it. The owner scores 1, every other candidate 0; it outweighs the other
 * affinities so a shift takes effect, while the filters still skip an owner that is down.
 */
export class OwnershipScorer implements Scorer {
  readonly name = 'ownership';
  readonly category = 'affinity' as const;

  constructor(readonly table: OwnershipTable) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    if (request.prefixKey === undefined) return;
    const owner = this.table.owner(request.model, request.role, request.prefixKey, request.now);
    if (owner === undefined) return;
    for (let i = 0; i < candidates.length; i++) if (candidates[i]!.url === owner) out[i] = 1;
  }
}
