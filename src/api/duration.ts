/**
 * Durations as Kubernetes prints metav1.Duration. No zod here: the workflows import this module, and what they
 * import is evaluated once per cached workflow (bench/RESULTS.md, "Scale").
 */

/** A Go-style duration: `500ms`, `15s`, `2m`, `1h30m`. */
export const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

/** Milliseconds in a duration string accepted by {@link DURATION}. */
export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`invalid duration "${text}"`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const part of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(part[1]) * (unit[part[2] as string] as number);
  }
  return total;
}
