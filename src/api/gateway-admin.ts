/**
 * The wire format between the cache control loop (activities) and the gateway's admin API: what a prefix
 * ownership shift answers, including the prompts to replay when warming the receiving replica.
 */

/** The stable part of a prompt (a chat's conversation before its newest message), replayed to warm a cache. */
export type WarmPrompt = { kind: 'chat'; messages: unknown[] } | { kind: 'completion'; prompt: string };

/** POST /admin/ownership answers this. */
export interface OwnershipShiftAnswer {
  model: string;
  from: string;
  to: string;
  expiresAt: string;
  /** Hot prefixes the `from` endpoint served. */
  served: number;
  moved: { key: number; requests: number; prompt: WarmPrompt | null }[];
}
