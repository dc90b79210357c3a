import type { EndpointState } from '../endpoints/endpoint-state.ts';
import { hashString } from './prefix-blocks.ts';

const VIRTUAL_NODES = 100;

/**
 * A consistent-hash ring over endpoint names. It depends only on the names, so every gateway replica given
 * the same endpoints builds the same ring.
 */
class HashRing {
  private readonly points: Uint32Array;
  private readonly owners: string[];

  constructor(names: readonly string[]) {
    const entries: { point: number; owner: string }[] = [];
    for (const name of names)
      for (let v = 0; v < VIRTUAL_NODES; v++)
        entries.push({ point: hashString(`${name}#${v}`), owner: name });
    entries.sort((a, b) => a.point - b.point || (a.owner < b.owner ? -1 : 1));
    this.points = Uint32Array.from(entries, (e) => e.point);
    this.owners = entries.map((e) => e.owner);
  }

  /** Distinct owners in ring order, starting at the first point at or after `key`. */
  *walk(key: number): Generator<string> {
    const n = this.points.length;
    if (n === 0) return;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Set<string>();
    for (let i = 0; i < n && seen.size < n; i++) {
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
 * Consistent hashing with bounded loads (Mirrokni et al.): walk the ring from the key and take the first
 * endpoint whose in-flight count stays within `bound` times the average after adding this request. Returns
 * the index in `candidates`, or -1 when there are none.
 */
export function boundedLoadChoice(
  ring: HashRing,
  key: number,
  candidates: readonly EndpointState[],
  bound: number,
): number {
  if (candidates.length === 0) return -1;
  let total = 0;
  const byName = new Map<string, number>();
  for (let i = 0; i < candidates.length; i++) {
    total += candidates[i]!.inFlight;
    byName.set(candidates[i]!.name, i);
  }
  const capacity = Math.ceil((bound * (total + 1)) / candidates.length);
  let first = -1;
  for (const owner of ring.walk(key)) {
    const index = byName.get(owner);
    if (index === undefined) continue;
    if (first < 0) first = index;
    if (candidates[index]!.inFlight + 1 <= capacity) return index;
  }
  return first;
}

/** True when `endpoint` may take one more request under the bound. */
export function withinBound(
  endpoint: EndpointState,
  candidates: readonly EndpointState[],
  bound: number,
): boolean {
  let total = 0;
  for (const c of candidates) total += c.inFlight;
  return endpoint.inFlight + 1 <= Math.ceil((bound * (total + 1)) / candidates.length);
}
