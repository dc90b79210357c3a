import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';
import { boundedLoadChoice, RingCache, withinBound } from '../hash-ring.ts';
import { hashString } from '../prefix-blocks.ts';

const MAX_SESSIONS = 100_000;

/**
 * SessionAffinity: a session stays on its endpoint while that endpoint is available and within the load bound.
 * A new session (or one whose endpoint left) is placed by consistent hashing with bounded loads on the session
 * key, so gateway replicas place it alike. Requests without a session key score 0 everywhere.
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
      if (index >= 0 && withinBound(candidates[index]!, candidates, this.loadBound)) {
        out[index] = 1;
        return;
      }
    }
    const index = boundedLoadChoice(
      this.rings.for(candidates),
      hashString(session),
      candidates,
      this.loadBound,
    );
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
