import type { ServingRole } from '../../api/index.ts';
import type { EndpointSpec } from '../routes/route-table.ts';

/** Passive outlier ejection: how many failures in a row eject an endpoint, and for how long. */
export interface OutlierPolicy {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export const DEFAULT_OUTLIER_POLICY: OutlierPolicy = {
  consecutiveFailures: 3,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
};

/**
 * What the gateway knows about one replica. Scorers read these attributes; they never fetch. The scraper
 * fills the scraped fields off the hot path; the proxy counts in-flight requests and failures.
 */
export class EndpointState {
  readonly name: string;
  readonly url: string;
  role: ServingRole;
  zone?: string;
  /** Readiness the route source reported (pod Ready, status endpoint ready). */
  ready: boolean;
  /** Requests this gateway has in flight to the endpoint. */
  inFlight = 0;
  /** Scraped: KV-cache usage in [0, 1]; undefined until the first scrape. */
  kvUsage?: number;
  /** Scraped: requests waiting in the engine's queue. */
  waiting?: number;
  /** Scraped: requests the engine is running. */
  running?: number;
  /** Active health check result; a failed check removes the endpoint from the candidates. */
  healthy = true;
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntil = 0;
  lastScrapeMs = 0;

  constructor(spec: EndpointSpec) {
    this.name = spec.name;
    this.url = spec.url;
    this.role = spec.role;
    this.zone = spec.zone;
    this.ready = spec.ready;
  }

  update(spec: EndpointSpec): void {
    this.role = spec.role;
    this.zone = spec.zone;
    this.ready = spec.ready;
  }

  available(now: number): boolean {
    return this.ready && this.healthy && this.ejectedUntil <= now;
  }

  /** Records a failed attempt; returns true when this failure ejected the endpoint. */
  recordFailure(now: number, policy: OutlierPolicy): boolean {
    this.consecutiveFailures++;
    if (this.consecutiveFailures < policy.consecutiveFailures || this.ejectedUntil > now) return false;
    this.ejections++;
    const duration = Math.min(policy.baseEjectionMs * 2 ** (this.ejections - 1), policy.maxEjectionMs);
    this.ejectedUntil = now + duration;
    return true;
  }

  recordSuccess(): void {
    this.consecutiveFailures = 0;
    // A success after an ejection ended resets the backoff.
    if (this.ejectedUntil === 0 || this.ejectedUntil <= Date.now()) this.ejections = 0;
  }
}
