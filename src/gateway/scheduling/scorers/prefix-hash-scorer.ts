import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { boundedLoadChoice, RingCache } from '../hash-ring.ts';
import { affinityKey } from '../prefix-blocks.ts';

/**
 * PrefixHash: consistent hashing with bounded loads on the prompt prefix's affinity key (see affinityKey). So
 * every turn of a conversation, and every question under one system prompt, goes to the same endpoint unless
 * it is over `loadBound` times the average load. The chosen endpoint scores 1;
 * every other 0.
 */
export class PrefixHashScorer implements Scorer {
  readonly name = 'prefix-hash';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();

  constructor(private readonly loadBound: number) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    const key = request.prefixKey ?? affinityKey(request.blocks, request.contextBlocks);
    if (key === undefined) return;
    const index = boundedLoadChoice(this.rings.for(candidates), key, candidates, this.loadBound);
    if (index >= 0) out[index] = 1;
  }
}
