import type { EndpointState } from '../endpoints/endpoint-state.ts';
import { inFlightSummary, overloadedIn, type HashRing } from './hash-ring.ts';
import type { PrefixIndex } from './prefix-index.ts';

/** Prefix keys whose holders are remembered (least recently used forgotten first). */
const MAX_KEYS = 100_000;

/** Recent load is the count of requests sent to an endpoint, decayed with this half-life. */
const RECENT_HALF_LIFE_MS = 20_000;

/**
 * A new prefix may go to an endpoint whose recent load is less than this many requests above the least
 * loaded candidate's. Below half a request every endpoint ties, so an idle gateway places new prefixes by the
 * ring alone (and gateway replicas agree); under load new prefixes go where recent traffic is lightest.
 * Half, not one: recent load decays, so a request sent a second ago counts 0.97 and would tie with an
 * endpoint that got nothing under a slack of one, and prefixes arriving one after another followed the ring.
 */
const PLACEMENT_SLACK = 0.5;

/**
 * A new prefix goes to the endpoint already sent the largest share of the request's blocks, when that share is
 * at least this: a new conversation under a tenant's system prompt lands where that prompt is cached.
 */
const PLACEMENT_MIN_SHARE = 0.3;

interface Recent {
  value: number;
  at: number;
}

/**
 * Where the affinity scorers of one scheduler (prefix-hash, session-affinity) have sent each prefix key, and
 * how much each endpoint received lately; both scorers choose through it, so they agree.
 *
 * The choice for a key:
 * 1. An endpoint that holds it (was sent it before) and is not overloaded, in ring order.
 * 2. Otherwise (a new prefix, or every holder overloaded), the candidate that is not overloaded and was sent
 *    the largest share (at least PLACEMENT_MIN_SHARE) of the request's prompt blocks, by the prefix index: the
 *    first turn of a conversation shares its tenant's system prompt with other conversations, not their key.
 * 3. Otherwise a placement: among the candidates that are not
 *    overloaded, those whose recent load is within PLACEMENT_SLACK of the lightest, the first in ring order.
 *    So the endpoint that is already hot is not also given the new conversations, which is what kept
 *    consistent hashing uneven (16 conversations on 4 endpoints: one with 6 or 7) and, near saturation, made
 *    that endpoint overloaded and spill its own conversations to endpoints without them.
 * 4. If every candidate is overloaded (only possible with no candidates), none.
 */
export class PrefixPlacement {
  /** prefix key → names of the endpoints it was sent to, least recently used key first. */
  private readonly holders = new Map<number, Set<string>>();
  private readonly recent = new Map<string, Recent>();
  private lastRecorded?: object;

  constructor(
    /** Which prompt blocks each endpoint was sent (by URL); without it rule 2 is skipped. */
    private readonly index?: PrefixIndex,
    readonly maxKeys = MAX_KEYS,
    readonly halfLifeMs = RECENT_HALF_LIFE_MS,
  ) {}

  /** The index in `candidates` for `key` (rules above), or -1 when there are no candidates. */
  choose(
    ring: HashRing,
    key: number,
    candidates: readonly EndpointState[],
    bound: number,
    now: number,
    blocks: readonly number[] = [],
  ): number {
    if (candidates.length === 0) return -1;
    const held = this.holders.get(key);
    let min = Number.POSITIVE_INFINITY;
    const loads = new Array<number>(candidates.length);
    const byName = new Map<string, number>();
    const free = new Array<boolean>(candidates.length);
    const load = inFlightSummary(candidates);
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      byName.set(c.name, i);
      free[i] = !overloadedIn(c, load, bound);
      loads[i] = this.recentLoad(c.name, now);
      if (free[i] && loads[i]! < min) min = loads[i]!;
    }
    let placed = -1;
    let shared = -1;
    let most =
      blocks.length > 0 ? Math.ceil(PLACEMENT_MIN_SHARE * blocks.length) - 1 : Number.POSITIVE_INFINITY;
    for (const name of ring.walk(key)) {
      const i = byName.get(name);
      if (i === undefined || !free[i]) continue;
      if (held?.has(name)) return i;
      if (this.index && blocks.length > 0) {
        const matched = this.index.matchedBlocks(candidates[i]!.url, blocks);
        if (matched > most) {
          most = matched;
          shared = i;
        }
      }
      if (placed < 0 && loads[i]! < min + PLACEMENT_SLACK) placed = i;
    }
    return shared >= 0 ? shared : placed;
  }

  /** Records that the request for `key` went to `endpoint`; once per request, whichever scorer calls first. */
  record(request: object, key: number | undefined, endpoint: string, now: number): void {
    if (this.lastRecorded === request) return;
    this.lastRecorded = request;
    const recent = this.recent.get(endpoint);
    if (recent) {
      recent.value = this.decayed(recent, now) + 1;
      recent.at = now;
    } else this.recent.set(endpoint, { value: 1, at: now });
    if (key === undefined) return;
    const names = this.holders.get(key);
    this.holders.delete(key);
    this.holders.set(key, names?.has(endpoint) ? names : new Set(names).add(endpoint));
    if (this.holders.size > this.maxKeys) this.holders.delete(this.holders.keys().next().value!);
  }

  /** The endpoints `key` was sent to, by name. */
  holdersOf(key: number): ReadonlySet<string> | undefined {
    return this.holders.get(key);
  }

  /** Requests sent to the endpoint lately (decayed to `now`). */
  recentLoad(endpoint: string, now: number): number {
    const recent = this.recent.get(endpoint);
    return recent ? this.decayed(recent, now) : 0;
  }

  private decayed(recent: Recent, now: number): number {
    return recent.value * 2 ** (-Math.max(0, now - recent.at) / this.halfLifeMs);
  }
}
