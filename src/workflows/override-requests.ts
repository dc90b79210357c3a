/**
 * The checks of the InferenceCache overrides' requests (setPolicy, forceEvict, forceTransfer): pure, so the
 * update validators and the signal handlers of cache-overrides.ts answer the same, and unit tests reach them.
 */
import { parseDuration } from '../api/duration.ts';
import type { PolicyOverride } from './cache-policy.ts';
import type { ForceEvictRequest, ForceTransferRequest, SetPolicyRequest } from './messages.ts';

// Hand-written checks, not zod: zod in the workflow bundle is evaluated again for every workflow a worker caches
// (~0.6 MiB each; bench/RESULTS.md, "Scale"), so the workflows import neither zod nor the schemas of src/api.
type Check<T> = (value: unknown) => T;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (v) =>
    v === undefined ? undefined : check(v);
const ratio = (key: string) =>
  optional((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
      throw new Error(`${key} must be a number between 0 and 1, not ${JSON.stringify(v)}`);
    return v;
  });
const positiveInteger = (key: string) =>
  optional((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new Error(`${key} must be a positive integer, not ${JSON.stringify(v)}`);
    return v;
  });
const duration = (key: string) =>
  optional((v) => {
    if (typeof v !== 'string') throw new Error(`${key} must be a duration such as 30s, 5m or 1h`);
    try {
      return parseDuration(v);
    } catch {
      throw new Error(`${key} must be a duration such as 30s, 5m or 1h, not ${JSON.stringify(v)}`);
    }
  });
const text = (key: string) =>
  optional((v) => {
    if (typeof v !== 'string') throw new Error(`${key} must be a string, not ${JSON.stringify(v)}`);
    return v;
  });

/** The setPolicy request's fields, checked in order; the first problem is thrown as one line. */
function checkPolicyRequest(request: Record<string, unknown>) {
  const o = {
    thresholdHitRate: ratio('thresholdHitRate')(request.thresholdHitRate),
    evictionThreshold: ratio('evictionThreshold')(request.evictionThreshold),
    sustainedPolls: positiveInteger('sustainedPolls')(request.sustainedPolls),
    cooldown: duration('cooldown')(request.cooldown),
    expiresIn: duration('expiresIn')(request.expiresIn),
    reason: text('reason')(request.reason),
  };
  if (o.expiresIn !== undefined && o.expiresIn <= 0) throw new Error('expiresIn must be positive');
  if (request.clear !== undefined && request.clear !== false)
    throw new Error(`clear must be true or false, not ${JSON.stringify(request.clear)}`);
  if ([o.thresholdHitRate, o.evictionThreshold, o.sustainedPolls, o.cooldown].every((v) => v === undefined))
    throw new Error(
      'needs at least one of thresholdHitRate, evictionThreshold, sustainedPolls, cooldown (or clear: true)',
    );
  return o;
}

/** Checks a setPolicy request; returns the override it sets (undefined for clear) or throws what is wrong. */
export function parsePolicyRequest(request: SetPolicyRequest, now: number): PolicyOverride | undefined {
  if (typeof request !== 'object' || request === null) throw new Error('setPolicy takes an object');
  if (request.clear === true) return undefined;
  let o: ReturnType<typeof checkPolicyRequest>;
  try {
    o = checkPolicyRequest(request as unknown as Record<string, unknown>);
  } catch (err) {
    throw new Error(`setPolicy: ${(err as Error).message}`);
  }
  return {
    ...(o.thresholdHitRate !== undefined ? { thresholdHitRate: o.thresholdHitRate } : {}),
    ...(o.evictionThreshold !== undefined ? { evictionThreshold: o.evictionThreshold } : {}),
    ...(o.sustainedPolls !== undefined ? { sustainedPolls: o.sustainedPolls } : {}),
    ...(o.cooldown !== undefined ? { cooldownMs: o.cooldown } : {}),
    expiresAt: now + (o.expiresIn ?? 3_600_000),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}

const nonEmpty = (v: unknown) => typeof v === 'string' && v.length > 0;
const noneOrText = (v: unknown) => v === undefined || typeof v === 'string';

export function validEvict(request: ForceEvictRequest): boolean {
  const r: unknown = request;
  return isRecord(r) && nonEmpty(r.replica) && noneOrText(r.reason);
}

export function validTransfer(request: ForceTransferRequest): boolean {
  const r: unknown = request;
  return isRecord(r) && nonEmpty(r.from) && nonEmpty(r.to) && noneOrText(r.reason);
}
