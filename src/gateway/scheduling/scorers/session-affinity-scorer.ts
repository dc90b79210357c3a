import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { affinityChoice, overloaded, RingCache } from '../hash-ring.ts';
import { hashString } from '../prefix-blocks.ts';

const MAX_SESSIONS = 100_000;

/**
 * SessionAffinity: a session stays on its endpoint while that endpoint is available and not overloaded (see
 * overloaded). A new session (or one whose endpoint left) is placed by consistent hashing on its prompt's
 * prefix key, so a new session under a shared system prompt joins the endpoint that holds it, and gateway
 * replicas place it alike; without a prompt, on the session key. Requests without a session key score 0.
 */
export class SessionAffinityScorer implements Scorer {
  readonly name = 'session-affinity';
  readonly category = 'affinity' as const;
  private readonly rings = new RingCache();
  /** session key → endpoint name, oldest first (a Map keeps insertion order; re-inserting refreshes). */
  private readonly sessions = new Map<string, string>();

  constructor(private readonly loadBound: number) {}

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
    const index = affinityChoice(this.rings.for(candidates), key, candidates, this.loadBound);
    if (index >= 0) out[index] = 1;
  }

  picked(request: SchedulingRequest, endpoint: EndpointState): void {
    const session = request.sessionKey;
    if (session === undefined) return;
    this.sessions.delete(session);
    this.sessions.set(session, endpoint.name);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
  }

  sessionCount(): number {
    return this.sessions.size;
  }
}
