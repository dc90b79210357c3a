/**
 * The InferenceCache's overrides: forceEvict, forceTransfer, setPolicy, pauseActions and resumeActions, each an
 * update with a validator (the caller gets an answer) and a signal of the same name (from the Temporal UI).
 */
import { log, setHandler } from '@temporalio/workflow';
import { z } from 'zod';
import { parseDuration } from '../api/index.ts';
import { evict, transfer } from './cache-loop-actions.ts';
import type { PolicyOverride } from './cache-policy.ts';
import { policyNow, type CacheState } from './cache-state.ts';
import { describeOverride, writeStatus } from './cache-status.ts';
import { ignore } from './entity.ts';
import {
  forceEvictSignal,
  forceEvictUpdate,
  forceTransferSignal,
  forceTransferUpdate,
  pauseActionsSignal,
  pauseActionsUpdate,
  resumeActionsSignal,
  resumeActionsUpdate,
  setPolicySignal,
  setPolicyUpdate,
  type ActionsPausedResult,
  type ForceEvictRequest,
  type ForceTransferRequest,
  type PauseRequest,
  type SetPolicyRequest,
} from './messages.ts';

const ratio = (key: string) => {
  const error = (i: { input: unknown }) =>
    `${key} must be a number between 0 and 1, not ${JSON.stringify(i.input)}`;
  return z.number({ error }).min(0, { error }).max(1, { error }).optional();
};
const positiveInteger = (key: string) => {
  const error = (i: { input: unknown }) =>
    `${key} must be a positive integer, not ${JSON.stringify(i.input)}`;
  return z.int({ error }).min(1, { error }).optional();
};
const duration = (key: string) =>
  z
    .string({ error: `${key} must be a duration such as 30s, 5m or 1h` })
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `${key} must be a duration such as 30s, 5m or 1h, not ${JSON.stringify(text)}`,
        });
        return z.NEVER;
      }
    })
    .optional();

const SetPolicySchema = z
  .object({
    thresholdHitRate: ratio('thresholdHitRate'),
    evictionThreshold: ratio('evictionThreshold'),
    sustainedPolls: positiveInteger('sustainedPolls'),
    cooldown: duration('cooldown'),
    expiresIn: duration('expiresIn').refine((ms) => ms === undefined || ms > 0, {
      error: 'expiresIn must be positive',
    }),
    reason: z.string().optional(),
    clear: z.literal(false).optional(),
  })
  .refine(
    (r) =>
      [r.thresholdHitRate, r.evictionThreshold, r.sustainedPolls, r.cooldown].some((v) => v !== undefined),
    {
      error:
        'needs at least one of thresholdHitRate, evictionThreshold, sustainedPolls, cooldown (or clear: true)',
    },
  );

/** The first problem zod found, as one line. */
const problem = (error: z.ZodError) => error.issues[0]?.message ?? 'invalid request';

/** Checks a setPolicy request; returns the override it sets (undefined for clear) or throws what is wrong. */
function parsePolicyRequest(request: SetPolicyRequest, now: number): PolicyOverride | undefined {
  if (typeof request !== 'object' || request === null) throw new Error('setPolicy takes an object');
  if (request.clear === true) return undefined;
  const parsed = SetPolicySchema.safeParse(request);
  if (!parsed.success) throw new Error(`setPolicy: ${problem(parsed.error)}`);
  const o = parsed.data;
  return {
    ...(o.thresholdHitRate !== undefined ? { thresholdHitRate: o.thresholdHitRate } : {}),
    ...(o.evictionThreshold !== undefined ? { evictionThreshold: o.evictionThreshold } : {}),
    ...(o.sustainedPolls !== undefined ? { sustainedPolls: o.sustainedPolls } : {}),
    ...(o.cooldown !== undefined ? { cooldownMs: o.cooldown } : {}),
    expiresAt: now + (o.expiresIn ?? 3_600_000),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}

export const forcedReason = (reason?: string) => `forced by an operator${reason ? `: ${reason}` : ''}`;

const ForceEvictSchema = z.object({ replica: z.string().min(1), reason: z.string().optional() }).loose();
const ForceTransferSchema = z
  .object({ from: z.string().min(1), to: z.string().min(1), reason: z.string().optional() })
  .loose();

function validEvict(request: ForceEvictRequest): boolean {
  return ForceEvictSchema.safeParse(request).success;
}

function validTransfer(request: ForceTransferRequest): boolean {
  return ForceTransferSchema.safeParse(request).success;
}

/** Registers every override handler; called before the workflow's first await. */
export function registerCacheOverrides(state: CacheState): void {
  setHandler(
    forceEvictUpdate,
    async (request) => {
      const action = await evict(state, request.replica, forcedReason(request.reason), true);
      await writeStatus(state, false);
      return action;
    },
    {
      validator: (request) => {
        if (!validEvict(request))
          throw new Error('forceEvict takes {replica: <replica name>, reason?: string}');
        if (state.spec === undefined) throw new Error('the InferenceCache has no spec yet');
      },
    },
  );
  setHandler(forceEvictSignal, (request) => {
    if (!validEvict(request)) return ignore(state, `forceEvict: ${JSON.stringify(request)?.slice(0, 200)}`);
    state.data.pending.push(request);
    state.dirty = true;
  });

  setHandler(
    forceTransferUpdate,
    async (request) => {
      const action = await transfer(state, request.from, request.to, forcedReason(request.reason), true);
      await writeStatus(state, false);
      return action;
    },
    {
      validator: (request) => {
        if (!validTransfer(request))
          throw new Error('forceTransfer takes {from: <replica>, to: <replica>, reason?: string}');
        if (state.spec === undefined) throw new Error('the InferenceCache has no spec yet');
      },
    },
  );
  setHandler(forceTransferSignal, (request) => {
    if (!validTransfer(request))
      return ignore(state, `forceTransfer: ${JSON.stringify(request)?.slice(0, 200)}`);
    (state.data.pendingTransfers ??= []).push(request);
    state.dirty = true;
  });

  const setPolicy = (request: SetPolicyRequest) => {
    state.data.policyOverride = parsePolicyRequest(request, Date.now());
    log.info('cache policy override', {
      override: state.data.policyOverride ? describeOverride(state.data.policyOverride) : 'cleared',
    });
    state.dirty = true;
    return {
      policy: policyNow(state, Date.now()),
      override: state.data.policyOverride ? describeOverride(state.data.policyOverride) : null,
    };
  };
  setHandler(setPolicyUpdate, setPolicy, {
    validator: (request) => {
      parsePolicyRequest(request, Date.now());
    },
  });
  setHandler(setPolicySignal, (request) => {
    try {
      setPolicy(request);
    } catch (err) {
      ignore(state, `setPolicy: ${(err as Error).message}`);
    }
  });

  const pauseActions = (request?: PauseRequest): ActionsPausedResult => {
    state.data.actionsPaused = {
      ...(request?.reason ? { reason: request.reason } : {}),
      since: new Date().toISOString(),
    };
    state.dirty = true;
    return { actionsPaused: true, ...state.data.actionsPaused };
  };
  const resumeActions = (): ActionsPausedResult => {
    state.data.actionsPaused = undefined;
    state.data.suppressed = undefined;
    state.dirty = true;
    return { actionsPaused: false };
  };
  setHandler(pauseActionsUpdate, pauseActions);
  setHandler(pauseActionsSignal, (request) => void pauseActions(request));
  setHandler(resumeActionsUpdate, resumeActions);
  setHandler(resumeActionsSignal, () => void resumeActions());
}
