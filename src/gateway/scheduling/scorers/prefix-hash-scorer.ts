import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { boundedLoadChoice, RingCache } from '../hash-ring.ts';

/** How many leading blocks form the hash key: 128 blocks of 64 characters, about 2,000 tokens. */
export const DEFAULT_PREFIX_KEY_BLOCKS = 128;

/**
 * PrefixHash: consistent hashing with bounded loads on the prompt prefix. The key is the chained hash of the
 * conversation before its newest message (the whole prompt when there is no conversation), cut at `keyBlocks`
 * blocks. So every turn of a conversation, and every question under one system prompt, keys alike and goes
 * to the same endpoint unless it is over `loadBound` times the average load. The chosen endpoint scores 1;
 * every other 0.
 */
export class PrefixHashScorer implements Scorer {
  readonly name = 'prefix-hash';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();

  constructor(
    private readonly loadBound: number,
    private readonly keyBlocks = DEFAULT_PREFIX_KEY_BLOCKS,
  ) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    if (request.blocks.length === 0) return;
    const stable = request.contextBlocks > 0 ? request.contextBlocks : request.blocks.length;
    const key = request.blocks[Math.min(stable, request.blocks.length, this.keyBlocks) - 1]!;
    const index = boundedLoadChoice(this.rings.for(candidates), key, candidates, this.loadBound);
    if (index >= 0) out[index] = 1;
  }
}
