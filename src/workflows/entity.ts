/**
 * The loop every resource workflow runs: handlers first, then wait for a new spec, an override, deletion or
 * the poll timer; reconcile on a new generation, observe on a tick; continue-as-new with plain JSON state
 * before the history grows.
 */
import {
  allHandlersFinished,
  condition,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  deletedSignal,
  dependencyChangedSignal,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  specSignal,
  stateQuery,
  type EntitySnapshot,
  type PauseRequest,
  type RollbackRequest,
  type SpecMessage,
} from './messages.ts';
import { Phase } from './search-attributes.ts';

/** A run continues as new once its history passes this many events (a tick adds about a dozen). */
export const MAX_HISTORY_EVENTS = 1000;
const MAX_IGNORED_SIGNALS = 20;

export interface EntityState<D> {
  kind: string;
  namespace: string;
  name: string;
  /** Latest generation received, and its spec as the API server stored it. */
  generation: number;
  spec?: unknown;
  reconciledGeneration: number;
  dirty: boolean;
  deleted: boolean;
  paused: boolean;
  pauseReason?: string;
  rollbackTo?: number;
  phase: string;
  message?: string;
  ticks: number;
  /** Loop iterations over the workflow's whole life (across continue-as-new). */
  wakeups: number;
  ignoredSignals: string[];
  pollIntervalMs: number;
  data: D;
}

export function initialState<D>(
  input: { kind: string; namespace: string; name: string; pollIntervalMs?: number },
  data: D,
): EntityState<D> {
  return {
    kind: input.kind,
    namespace: input.namespace,
    name: input.name,
    generation: 0,
    reconciledGeneration: 0,
    dirty: false,
    deleted: false,
    paused: false,
    phase: 'Pending',
    ticks: 0,
    wakeups: 0,
    ignoredSignals: [],
    pollIntervalMs: input.pollIntervalMs ?? 30_000,
    data,
  };
}

export interface EntityBehaviour<D> {
  /** Acts on the latest spec (a new generation, a changed dependency, or a rollback request). */
  reconcile(state: EntityState<D>): Promise<void>;
  /** Runs on every poll tick while nothing else is pending. */
  observe(state: EntityState<D>): Promise<void>;
  /** Removes what the resource owns; the loop then ends. */
  teardown(state: EntityState<D>): Promise<void>;
  details?(state: EntityState<D>): Record<string, unknown>;
}

export function setPhase(state: EntityState<unknown>, phase: string, message?: string): void {
  state.message = message;
  if (state.phase === phase) return;
  state.phase = phase;
  upsertSearchAttributes([{ key: Phase, value: phase }]);
}

export function ignore(state: EntityState<unknown>, what: string): void {
  log.warn('ignoring malformed signal', { what });
  state.ignoredSignals = [...state.ignoredSignals, `${new Date().toISOString()} ${what}`].slice(
    -MAX_IGNORED_SIGNALS,
  );
}

function isSpecMessage(m: unknown): m is SpecMessage {
  const v = m as SpecMessage | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.generation === 'number' &&
    Number.isInteger(v.generation) &&
    typeof v.spec === 'object' &&
    v.spec !== null
  );
}

function isRollback(m: unknown): m is RollbackRequest {
  const v = m as RollbackRequest | null;
  return typeof v === 'object' && v !== null && Number.isInteger(v.revision) && v.revision > 0;
}

export function snapshot<D>(state: EntityState<D>, behaviour: EntityBehaviour<D>): EntitySnapshot {
  return {
    kind: state.kind,
    namespace: state.namespace,
    name: state.name,
    generation: state.generation,
    reconciledGeneration: state.reconciledGeneration,
    paused: state.paused,
    ...(state.pauseReason !== undefined ? { pauseReason: state.pauseReason } : {}),
    phase: state.phase,
    ...(state.message !== undefined ? { message: state.message } : {}),
    ticks: state.ticks,
    wakeups: state.wakeups,
    ignoredSignals: state.ignoredSignals,
    details: behaviour.details?.(state) ?? {},
  };
}

export async function runEntity<D>(
  state: EntityState<D>,
  behaviour: EntityBehaviour<D>,
  restart: (state: EntityState<D>) => Promise<never>,
  options: { rollbackRevisions?: (state: EntityState<D>) => number[] } = {},
): Promise<void> {
  const pause = (request?: PauseRequest) => {
    state.paused = true;
    state.pauseReason = request?.reason;
  };
  const resume = () => {
    state.paused = false;
    state.pauseReason = undefined;
  };
  const canRollbackTo = (revision: number) => options.rollbackRevisions?.(state).includes(revision) ?? false;

  setHandler(specSignal, (message) => {
    if (!isSpecMessage(message)) return ignore(state, `spec: ${JSON.stringify(message)?.slice(0, 200)}`);
    if (message.generation <= state.generation) return; // a duplicate or stale delivery (resync, second controller)
    state.generation = message.generation;
    state.spec = message.spec;
    state.dirty = true;
  });
  setHandler(deletedSignal, () => {
    state.deleted = true;
  });
  setHandler(dependencyChangedSignal, () => {
    state.dirty = true;
  });
  setHandler(pauseSignal, (request) => {
    if (request !== undefined && (typeof request !== 'object' || request === null))
      return ignore(state, `pause: ${JSON.stringify(request)}`);
    pause(request);
  });
  setHandler(resumeSignal, resume);
  setHandler(rollbackSignal, (request) => {
    if (!isRollback(request) || !canRollbackTo(request.revision))
      return ignore(state, `rollback: ${JSON.stringify(request)}`);
    state.rollbackTo = request.revision;
  });
  setHandler(
    pauseUpdate,
    (request) => {
      pause(request);
      return snapshot(state, behaviour);
    },
    {
      validator: (request) => {
        if (request !== undefined && request !== null && typeof request !== 'object')
          throw new Error('pause takes {reason?: string}');
      },
    },
  );
  setHandler(resumeUpdate, () => {
    resume();
    return snapshot(state, behaviour);
  });
  setHandler(
    rollbackUpdate,
    (request) => {
      state.rollbackTo = request.revision;
      return snapshot(state, behaviour);
    },
    {
      validator: (request) => {
        if (!isRollback(request)) throw new Error('rollback takes {revision: <positive integer>}');
        if (!canRollbackTo(request.revision)) {
          throw new Error(
            `revision ${request.revision} is not one this resource can roll back to (known: ${options.rollbackRevisions?.(state).join(', ') || 'none'})`,
          );
        }
      },
    },
  );
  setHandler(stateQuery, () => snapshot(state, behaviour));

  for (;;) {
    const actionable = () =>
      state.deleted || (!state.paused && (state.dirty || state.rollbackTo !== undefined));
    const mustRestart = () =>
      workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= MAX_HISTORY_EVENTS;
    const woke = await condition(() => actionable() || mustRestart(), state.pollIntervalMs);
    state.wakeups++;
    if (state.deleted) {
      setPhase(state, 'Deleting');
      await behaviour.teardown(state);
      await condition(allHandlersFinished);
      return;
    }
    if (!state.paused && (state.dirty || state.rollbackTo !== undefined)) {
      state.dirty = false;
      await behaviour.reconcile(state);
    } else if (!woke && !state.paused) {
      state.ticks++;
      await behaviour.observe(state);
    }
    if (mustRestart()) {
      await condition(allHandlersFinished);
      await restart(state);
    }
  }
}
