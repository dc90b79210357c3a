/**
 * The message API of every resource workflow. Clients (controller, CLI) import these definitions, never
 * strings. Overrides are updates (the caller gets an answer) and signals of the same name (so an operator can
 * send them from the Temporal UI or `temporal workflow signal`).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CacheAction, CachePolicy } from './cache-policy.ts';

export interface SpecMessage {
  spec: unknown;
  generation: number;
}

export interface RollbackRequest {
  revision: number;
}

export interface PauseRequest {
  reason?: string;
}

export interface EntitySnapshot {
  kind: string;
  namespace: string;
  name: string;
  generation: number;
  reconciledGeneration: number;
  paused: boolean;
  pauseReason?: string;
  phase: string;
  message?: string;
  ticks: number;
  wakeups: number;
  ignoredSignals: string[];
  /** A step being waited out: which, why, since when (epoch ms) and how many rounds so far. */
  waiting?: { step: string; type: string; cause: string; since: number; rounds: number };
  lastFailure?: { step: string; type: string; message: string; at: string };
  details: Record<string, unknown>;
}

export const specSignal = defineSignal<[SpecMessage]>('spec');
export const deletedSignal = defineSignal('deleted');
export const dependencyChangedSignal = defineSignal<[{ kind: string; name: string }]>('dependencyChanged');

export const pauseUpdate = defineUpdate<EntitySnapshot, [PauseRequest]>('pause');
export const resumeUpdate = defineUpdate<EntitySnapshot, []>('resume');
export const rollbackUpdate = defineUpdate<EntitySnapshot, [RollbackRequest]>('rollback');
export const pauseSignal = defineSignal<[PauseRequest]>('pause');
export const resumeSignal = defineSignal('resume');
export const rollbackSignal = defineSignal<[RollbackRequest]>('rollback');

/** InferenceCache override: drop one replica's prefix cache now. */
export interface ForceEvictRequest {
  replica: string;
  reason?: string;
}
/** Answers the action done, with its reason (an ApplicationFailure rejects it when it could not be). */
export const forceEvictUpdate = defineUpdate<CacheAction, [ForceEvictRequest]>('forceEvict');
export const forceEvictSignal = defineSignal<[ForceEvictRequest]>('forceEvict');

export const stateQuery = defineQuery<EntitySnapshot>('state');

/** InferenceCache override: move the hottest prefixes of one replica to another now (gateway shift + warming). */
export interface ForceTransferRequest {
  from: string;
  to: string;
  reason?: string;
}
export const forceTransferUpdate = defineUpdate<CacheAction, [ForceTransferRequest]>('forceTransfer');
export const forceTransferSignal = defineSignal<[ForceTransferRequest]>('forceTransfer');

/** InferenceCache override: thresholds that replace the spec's until they expire (or `clear: true`). */
export interface SetPolicyRequest {
  thresholdHitRate?: number;
  evictionThreshold?: number;
  sustainedPolls?: number;
  /** A duration such as 30s, 5m. */
  cooldown?: string;
  /** How long the override lasts: a duration, default 1h. */
  expiresIn?: string;
  reason?: string;
  /** Drop the override now. */
  clear?: boolean;
}
/** What setPolicy answers: the policy now in force, and the override on top of the spec (null when none). */
export interface SetPolicyResult {
  policy: CachePolicy;
  override: {
    thresholdHitRate?: number;
    evictionThreshold?: number;
    sustainedPolls?: number;
    /** Seconds, as `30s`. */
    cooldown?: string;
    expiresAt: string;
    reason?: string;
  } | null;
}
export const setPolicyUpdate = defineUpdate<SetPolicyResult, [SetPolicyRequest]>('setPolicy');
export const setPolicySignal = defineSignal<[SetPolicyRequest]>('setPolicy');

/** InferenceCache override: stop (or restart) automatic actions only; the loop keeps polling and reporting. */
export type ActionsPausedResult =
  { actionsPaused: true; reason?: string; since: string } | { actionsPaused: false };
export const pauseActionsUpdate = defineUpdate<ActionsPausedResult, [PauseRequest]>('pauseActions');
export const pauseActionsSignal = defineSignal<[PauseRequest]>('pauseActions');
export const resumeActionsUpdate = defineUpdate<ActionsPausedResult, []>('resumeActions');
export const resumeActionsSignal = defineSignal('resumeActions');
