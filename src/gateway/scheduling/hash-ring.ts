import type { EndpointState } from '../endpoints/endpoint-state.ts';
import { hashString } from './prefix-blocks.ts';

/**
 * Virtual nodes per endpoint. With mixed points (below) 160 of them keep every endpoint's share of the ring
 * within a few percent of 1/n for small n.
 */
const VIRTUAL_NODES = 160;

/**
 * The absolute part of the imbalance rule: an owner keeps its requests until it has at least this many more
 * in flight than the least-loaded candidate (see overloaded). 8 was tried and reverted: 16 concurrent requests
 * for one prefix then stayed on two endpoints (test/e2e/gateway-routing.test.ts wants them spread).
 */
const IMBALANCE_SLACK = 4;

/**
 * The murmur3 32-bit finaliser. FNV-1a alone leaves similar inputs (`sim-0#1`, `sim-1#1`, ...) on nearby
 * points, so a ring of raw FNV points gave one of four endpoints 55 % of the ring; mixing spreads them.
 */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A consistent-hash ring over endpoint names. It depends only on the names, so every gateway replica given
 * the same endpoints builds the same ring.
 */
export class HashRing {
  private readonly points: Uint32Array;
  private readonly owners: string[];

  constructor(names: readonly string[]) {
    const entries: { point: number; owner: string }[] = [];
    for (const name of names)
      for (let v = 0; v < VIRTUAL_NODES; v++)
        entries.push({ point: mix32(hashString(`${name}#${v}`)), owner: name });
    entries.sort((a, b) => a.point - b.point || (a.owner < b.owner ? -1 : 1));
    this.points = Uint32Array.from(entries, (e) => e.point);
    this.owners = entries.map((e) => e.owner);
  }

  /** Distinct owners in ring order, starting at the first point at or after the (mixed) `key`. */
  *walk(key: number): Generator<string> {
    const n = this.points.length;
    if (n === 0) return;
    const point = mix32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < point) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const owner = this.owners[(lo + i) % n]!;
      if (seen.has(owner)) continue;
      seen.add(owner);
      yield owner;
    }
  }
}

/** Rings cached by the set of names they were built from. */
export class RingCache {
  private key = '';
  private ring = new HashRing([]);

  for(candidates: readonly EndpointState[]): HashRing {
    // Candidates keep the route's order from call to call, so the joined names are a cheap cache key; the
    // ring itself sorts its points, so it is the same for any order of the same names.
    const names = candidates.map((c) => c.name);
    const key = names.join('\n');
    if (key !== this.key) {
      this.ring = new HashRing(names);
      this.key = key;
    }
    return this.ring;
  }
}

/**
 * Whether `endpoint` is too busy to take one more request for the prefixes it holds. Affinity is left only when
 * the imbalance is large in absolute and in relative terms (like the Rust routers' cache_aware): the endpoint
 * has IMBALANCE_SLACK or more requests in flight than the least-loaded candidate, and one more would put it
 * over `bound` times the mean. The relative rule alone (bounded loads, Mirrokni et al.) made the capacity 1
 * while at most two requests were in flight, so a second concurrent request for a prefix always spilled to an
 * endpoint without it.
 */
export function overloaded(
  endpoint: EndpointState,
  candidates: readonly EndpointState[],
  bound: number,
): boolean {
  return overloadedIn(endpoint, inFlightSummary(candidates), bound);
}

/** The candidates' requests in flight: their sum, the least and how many candidates, for overloadedIn. */
export interface InFlightSummary {
  total: number;
  min: number;
  count: number;
}

export function inFlightSummary(candidates: readonly EndpointState[]): InFlightSummary {
  let total = 0;
  let min = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    total += c.inFlight;
    if (c.inFlight < min) min = c.inFlight;
  }
  return { total, min, count: candidates.length };
}

/** overloaded, with the candidates summarised once (a scorer checks every candidate). */
export function overloadedIn(endpoint: EndpointState, load: InFlightSummary, bound: number): boolean {
  if (endpoint.inFlight - load.min < IMBALANCE_SLACK) return false;
  return endpoint.inFlight + 1 > (bound * (load.total + 1)) / load.count;
}
