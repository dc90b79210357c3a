/** Blocks remembered per endpoint by default: 16,384 blocks of 64 characters, about 260k tokens. */
const DEFAULT_BLOCKS_PER_ENDPOINT = 16_384;

/**
 * Which chained prefix-block hashes each endpoint has been sent. Because a block's hash covers every block
 * before it, the set behaves like a radix tree of prompts; an endpoint's entries are bounded and evicted least
 * recently used first, like the engine's own prefix cache. Memory: about 100 bytes per remembered block.
 */
export class PrefixIndex {
  private readonly perEndpoint = new Map<string, Map<number, number>>();

  constructor(readonly blocksPerEndpoint = DEFAULT_BLOCKS_PER_ENDPOINT) {}

  /** The number of leading blocks of `blocks` the endpoint holds (binary search: chained hashes nest). */
  matchedBlocks(endpoint: string, blocks: readonly number[]): number {
    const held = this.perEndpoint.get(endpoint);
    if (!held || blocks.length === 0) return 0;
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (held.has(blocks[mid - 1]!)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  record(endpoint: string, blocks: readonly number[]): void {
    let held = this.perEndpoint.get(endpoint);
    if (!held) {
      held = new Map();
      this.perEndpoint.set(endpoint, held);
    }
    // Newest last, and a prompt's first block newest of all: eviction then trims prompts from their tails,
    // as an engine's prefix cache does, and the held blocks of a prompt stay a prefix (binary search holds).
    for (let i = blocks.length - 1; i >= 0; i--) {
      const block = blocks[i]!;
      const hits = held.get(block);
      if (hits !== undefined) held.delete(block);
      held.set(block, (hits ?? 0) + 1);
    }
    const overflow = held.size - this.blocksPerEndpoint;
    if (overflow > 0) {
      const keys = held.keys();
      for (let i = 0; i < overflow; i++) held.delete(keys.next().value!);
    }
  }

  /** Moves the given blocks from one endpoint to another (an ownership shift). */
  transfer(from: string, to: string, blocks: readonly number[]): void {
    const source = this.perEndpoint.get(from);
    if (source) for (const block of blocks) source.delete(block);
    this.record(to, blocks);
  }

  forget(endpoint: string): void {
    this.perEndpoint.delete(endpoint);
  }

  size(endpoint: string): number {
    return this.perEndpoint.get(endpoint)?.size ?? 0;
  }
}
