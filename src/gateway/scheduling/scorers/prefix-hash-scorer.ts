import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { RingCache } from '../hash-ring.ts';
import { PrefixPlacement } from '../placement.ts';
import { affinityKey } from '../prefix-blocks.ts';

/**
 * PrefixHash: the prompt prefix's affinity key (see affinityKey) stays on the endpoint it was sent to, so
 * every turn of a conversation, and every question under one system prompt, goes to the same endpoint unless
 * that endpoint is overloaded (see overloaded: a large imbalance in absolute and relative terms). A new prefix,
 * or one whose holders are all overloaded, is placed by PrefixPlacement: on the consistent-hash ring, skipping
 * endpoints that got clearly more requests lately. The chosen endpoint scores 1; every other 0.
 */
export class PrefixHashScorer implements Scorer {
  readonly name = 'prefix-hash';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();

  constructor(
    private readonly loadBound: number,
    readonly placement = new PrefixPlacement(),
  ) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    const key = request.prefixKey ?? affinityKey(request.blocks, request.contextBlocks);
    if (key === undefined) return;
    const ring = this.rings.for(candidates);
    const index = this.placement.choose(ring, key, candidates, this.loadBound, request.now, request.blocks);
    if (index >= 0) out[index] = 1;
  }

  picked(request: SchedulingRequest, endpoint: EndpointState): void {
    const key = request.prefixKey ?? affinityKey(request.blocks, request.contextBlocks);
    this.placement.record(request, key, endpoint.name, request.now);
  }
}
