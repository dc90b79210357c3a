/** The acceptance rate of speculative decoding from the target replicas' counters (pure, for the workflow). */

export interface DraftCounters {
  accepted: number;
  drafted: number;
}

/**
 * Accepted / proposed draft tokens since the previous poll; the lifetime ratio on the first poll, after a
 * counter reset (a replica restarted) or when the replicas changed; unchanged when nothing was drafted since.
 */
export function acceptanceRate(
  previous: DraftCounters | undefined,
  current: DraftCounters,
  lastRate: number | undefined,
): number | undefined {
  const lifetime = current.drafted > 0 ? current.accepted / current.drafted : undefined;
  if (!previous) return lifetime;
  const drafted = current.drafted - previous.drafted;
  const accepted = current.accepted - previous.accepted;
  if (drafted < 0 || accepted < 0) return lifetime;
  if (drafted === 0) return lastRate ?? lifetime;
  return Math.min(1, accepted / drafted);
}
