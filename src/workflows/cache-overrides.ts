/**
 * The InferenceCache's overrides: forceEvict, forceTransfer, setPolicy, pauseActions and resumeActions, each an
 * update with a validator (the caller gets an answer) and a signal of the same name (from the Temporal UI).
 */
import { log, setHandler } from '@temporalio/workflow';
import { evict, transfer } from './cache-loop-actions.ts';
import { policyNow, type CacheState } from './cache-state.ts';
import { describeOverride, writeStatus } from './cache-status.ts';
import { ignore } from './entity.ts';
import { parsePolicyRequest, validEvict, validTransfer } from './override-requests.ts';
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
  type PauseRequest,
  type SetPolicyRequest,
} from './messages.ts';

export const forcedReason = (reason?: string) => `forced by an operator${reason ? `: ${reason}` : ''}`;

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
