import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import type { PrefixIndex } from '../prefix-index.ts';

/**
 * PrecisePrefix: scores each endpoint by the fraction of the request's prefix it already holds, by the prefix
 * index (which prefix blocks each endpoint has been sent: an approximate radix tree of chained block hashes,
 * bounded per endpoint with least-recently-used eviction). The proxy records every prompt it sends into the
 * index, on every route, so the index also feeds the gateway's prefix-hit estimate.
 */
export class PrecisePrefixScorer implements Scorer {
  readonly name = 'precise-prefix';
  readonly category = 'affinity' as const;

  constructor(readonly index: PrefixIndex) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    const total = request.blocks.length;
    if (total === 0) return;
    for (let i = 0; i < candidates.length; i++)
      out[i] = this.index.matchedBlocks(candidates[i]!.url, request.blocks) / total;
  }
}
