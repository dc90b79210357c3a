import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { affinityChoice, RingCache } from '../hash-ring.ts';
import { affinityKey } from '../prefix-blocks.ts';

/** Prefix keys whose holders are remembered for spills (oldest forgotten first). */
const MAX_KEYS = 100_000;

/**
 * PrefixHash: consistent hashing on the prompt prefix's affinity key (see affinityKey). So every turn of a
 * conversation, and every question under one system prompt, goes to the same endpoint unless that endpoint
 * is overloaded (see overloaded: a large imbalance in absolute and relative terms). A spill prefers an
 * endpoint this scorer already sent the prefix to. The chosen endpoint scores 1; every other 0.
 */
export class PrefixHashScorer implements Scorer {
  readonly name = 'prefix-hash';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();
  /** prefix key → names of the endpoints it was sent to, oldest key first. */
  private readonly holders = new Map<number, Set<string>>();

  constructor(private readonly loadBound: number) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    const key = request.prefixKey ?? affinityKey(request.blocks, request.contextBlocks);
    if (key === undefined) return;
    const ring = this.rings.for(candidates);
    const index = affinityChoice(ring, key, candidates, this.loadBound, this.holders.get(key));
    if (index >= 0) out[index] = 1;
  }

  picked(request: SchedulingRequest, endpoint: EndpointState): void {
    const key = request.prefixKey ?? affinityKey(request.blocks, request.contextBlocks);
    if (key === undefined) return;
    const names = this.holders.get(key);
    if (names?.has(endpoint.name)) return;
    this.holders.delete(key);
    this.holders.set(key, new Set(names).add(endpoint.name));
    if (this.holders.size > MAX_KEYS) this.holders.delete(this.holders.keys().next().value!);
  }
}
