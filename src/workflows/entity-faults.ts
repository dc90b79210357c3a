/**
 * How the entity loop reports what the world did: a step's permanent failure as Degraded, a wait that ended as
 * an Event, and a teardown that always releases the finalizer (the durability rule's reporting side).
 */
import { Reason } from '../api/reasons.ts';
import { log } from '@temporalio/workflow';
import { steps } from './activities.ts';
import { StepFailure, StepInterrupted } from './durable.ts';
import type { EntityBehaviour, EntityState } from './entity.ts';
import { setPhase } from './phase.ts';

export const waitPhase = (type: string) =>
  type === 'KubernetesUnavailable' ? Reason.WaitingForAPIServer : Reason.WaitingToRetry;

export const stateRef = (state: EntityState<unknown, unknown>) => ({
  kind: state.kind,
  namespace: state.namespace,
  name: state.name,
});

/** Logs a status write that cannot be made; the failure is already in the workflow's state and history. */
async function bestEffort(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!(err instanceof StepFailure || err instanceof StepInterrupted)) throw err;
    log.warn(`${what} could not be written`, { error: err.message });
  }
}

export async function reportFailure<S, D>(
  state: EntityState<S, D>,
  behaviour: EntityBehaviour<S, D>,
  failure: StepFailure,
): Promise<void> {
  const message = `${failure.step}: ${failure.message}`;
  const repeated = state.lastFailure?.message === failure.message && state.phase === 'Degraded';
  state.lastFailure = {
    step: failure.step,
    type: failure.failureType,
    message: failure.message,
    at: new Date().toISOString(),
  };
  log.warn('step failed permanently', { ...state.lastFailure });
  const failed = behaviour.failed;
  if (failed) return bestEffort('the failure', () => failed(state, failure));
  setPhase(state, 'Degraded', message);
  if (repeated) return; // already reported; a tick that fails the same way writes nothing
  await bestEffort('the failure', () =>
    steps.writeStatus({
      ...stateRef(state),
      observedGeneration: state.generation,
      fields: { phase: 'Degraded' },
      conditions: [
        { type: 'Degraded', status: 'True', reason: failure.failureType, message },
        { type: 'Ready', status: 'False', reason: failure.failureType, message },
        { type: 'Progressing', status: 'False', reason: failure.failureType, message },
      ],
      event: { type: 'Warning', reason: failure.failureType, message },
    }),
  );
}

/** Records each wait that ended as an Event, so `kubectl describe` shows what the resource waited for. */
export async function reportWaits(state: EntityState<unknown, unknown>): Promise<void> {
  for (const wait of (state.unreportedWaits ?? []).splice(0)) {
    const reason = wait.type === 'KubernetesUnavailable' ? Reason.WaitedForAPIServer : Reason.WaitedToRetry;
    await bestEffort('the wait', () =>
      steps.writeStatus({
        ...stateRef(state),
        resolveWaits: true,
        event: {
          type: 'Warning',
          reason,
          message: `${wait.step} waited ${Math.round(wait.waitedMs / 1000)} s: ${wait.cause}`,
        },
      }),
    );
  }
}

/** Deletion always completes: what cannot be deleted is logged, and the finalizer is released anyway. */
export async function teardown<S, D>(
  state: EntityState<S, D>,
  behaviour: EntityBehaviour<S, D>,
): Promise<void> {
  if (behaviour.teardown) {
    try {
      await behaviour.teardown(state);
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      state.message = `teardown incomplete: ${err.step}: ${err.message}`;
      log.warn('teardown failed permanently; releasing the finalizer anyway', { error: err.message });
    }
  }
  await bestEffort('the finalizer release', () => steps.releaseFinalizer(stateRef(state)));
}
