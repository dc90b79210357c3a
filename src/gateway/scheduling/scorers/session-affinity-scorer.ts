import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { overloaded, RingCache } from '../hash-ring.ts';
import { PrefixPlacement } from '../placement.ts';
import { hashString } from '../prefix-blocks.ts';

const MAX_SESSIONS = 100_000;

/**
 * SessionAffinity: a session stays on its endpoint while that endpoint is available and not overloaded (see
 * overloaded). A new session (or one whose endpoint left or is overloaded) is placed by its prompt's prefix
 * key through the PrefixPlacement it shares with prefix-hash: where that prefix already is, else on the ring
 * skipping endpoints that got clearly more requests lately; so a new session under a shared system prompt
 * joins the endpoint that holds it. Without a prompt, by the session key. Requests without a session key score 0.
 */
export class SessionAffinityScorer implements Scorer {
  readonly name = 'session-affinity';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();
  /** session key → endpoint name, oldest first (a Map keeps insertion order; re-inserting refreshes). */
  private readonly sessions = new Map<string, string>();

  constructor(
    private readonly loadBound: number,
    readonly placement = new PrefixPlacement(),
  ) {}

  score(request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    const session = request.sessionKey;
    if (session === undefined) return;
    const pinned = this.sessions.get(session);
    if (pinned !== undefined) {
      const index = candidates.findIndex((c) => c.name === pinned);
      if (index >= 0 && !overloaded(candidates[index]!, candidates, this.loadBound)) {
        out[index] = 1;
        return;
      }
    }
    const key = request.prefixKey ?? hashString(session);
    const index = this.placement.choose(
      this.rings.for(candidates),
      key,
      candidates,
      this.loadBound,
      request.now,
      request.blocks,
    );
    if (index >= 0) out[index] = 1;
  }

  picked(request: SchedulingRequest, endpoint: EndpointState): void {
    const session = request.sessionKey;
    if (session === undefined) return;
    this.sessions.delete(session);
    this.sessions.set(session, endpoint.name);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.placement.record(request, request.prefixKey ?? hashString(session), endpoint.name, request.now);
  }

  sessionCount(): number {
    return this.sessions.size;
  }
}
