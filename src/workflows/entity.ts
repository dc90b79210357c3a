/**
 * The loop every resource workflow runs: handlers first, then wait for a new spec, an override, deletion or
 * the poll timer; reconcile on a new generation, observe on a tick; continue-as-new with plain JSON state
 * before the history grows.
 */
import {
  allHandlersFinished,
  condition,
  log,
  patched,
  setHandler,
  sleep,
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
import { oneAttempt } from './activities.ts';
import { stateRef, reportFailure, reportWaits, teardown, waitPhase } from './entity-faults.ts';
import { setPhase } from './phase.ts';
import { interruptSteps, observeWaits, StepFailure, StepInterrupted, type Wait } from './durable.ts';

/** A run continues as new once its history passes this many events (a tick adds a handful). */
export const MAX_HISTORY_EVENTS = 1000;
const MAX_IGNORED_SIGNALS = 20;

export interface EntityState<S, D> {
  kind: string;
  namespace: string;
  name: string;
  /** Latest generation received, and its spec as the controller parsed it (defaults applied). */
  generation: number;
  spec?: S;
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
  /** A step being waited out (the API server down, ...), shown while it lasts. */
  waiting?: Wait;
  /** The last permanent failure of a step, reported as the Degraded condition. */
  lastFailure?: { step: string; type: string; message: string; at: string };
  /** Waits that ended and are yet to be recorded as an Event on the resource. */
  unreportedWaits?: { step: string; type: string; cause: string; waitedMs: number }[];
  data: D;
}

export function initialState<S, D>(
  input: { kind: string; namespace: string; name: string; pollIntervalMs?: number },
  data: D,
): EntityState<S, D> {
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

/** The state once the first spec has arrived: reconcile and observe run only then. */
export type SpecifiedState<S, D> = EntityState<S, D> & { spec: S };

function hasSpec<S, D>(state: EntityState<S, D>): state is SpecifiedState<S, D> {
  return state.spec !== undefined;
}

export interface EntityBehaviour<S, D> {
  /** Acts on the latest spec (a new generation, a changed dependency, or a rollback request). */
  reconcile(state: SpecifiedState<S, D>): Promise<void>;
  /** Runs on every poll tick while nothing else is pending. */
  observe(state: SpecifiedState<S, D>): Promise<void>;
  /** Removes what the resource owns; the loop then releases the finalizer and ends. */
  teardown?(state: EntityState<S, D>): Promise<void>;
  /**
   * Reports a step's permanent failure (the default: Degraded and Ready=False quoting the cause); the workflow
   * keeps running and reacts to the next spec.
   */
  failed?(state: EntityState<S, D>, failure: StepFailure): Promise<void>;
  details?(state: EntityState<S, D>): Record<string, unknown>;
}

export function ignore(state: EntityState<unknown, unknown>, what: string): void {
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

function snapshot<S, D>(state: EntityState<S, D>, behaviour: EntityBehaviour<S, D>): EntitySnapshot {
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
    ...(state.waiting ? { waiting: state.waiting } : {}),
    ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
    details: behaviour.details?.(state) ?? {},
  };
}

/**
 * The patch behind {@link pollTimer}. Asked once, when a run starts: a run that began with a timer per wait
 * keeps it to its end (its history says so), and the next run polls on its own timer.
 */
const POLL_TIMER_PATCH = 'poll-timer';

/** Waits for `ready()` or the poll timer; resolves true when the timer ended the wait (a tick is due). */
type LoopWait = (ready: () => boolean) => Promise<boolean>;

/**
 * Histories from before the poll timer: every wait is `condition(ready, pollInterval)`, a timer started, and
 * cancelled when something else ends the wait.
 */
function timerPerWait(state: EntityState<unknown, unknown>): LoopWait {
  return async (ready) => !(await condition(ready, state.pollIntervalMs));
}

/**
 * The poll timer: one timer at a time, started when none runs, never cancelled; a wait that something else ends
 * leaves it running, and the tick comes when it fires. Per tick that is a timer and a condition instead of a
 * cancellation scope racing a timer and a condition, whose promises (each one a captured stack trace in the
 * SDK) were an eighth of the workflow thread's time at 1,000 resources (issue 16). No timer before the first
 * spec or while there is work; a changed poll interval starts a timer of the new length, and the one it
 * replaces fires to no effect.
 */
function pollTimer(state: EntityState<unknown, unknown>): LoopWait {
  let due = false;
  let running: number | undefined;
  let timers = 0;
  return async (ready) => {
    // Nothing to poll before the first spec (a cache's spec sets its interval), nor when the loop has work
    // already: it comes back here after it.
    if (state.spec !== undefined && running !== state.pollIntervalMs && !ready()) {
      const timer = ++timers;
      running = state.pollIntervalMs;
      void sleep(running).then(
        () => {
          if (timer !== timers) return;
          running = undefined;
          due = true;
        },
        // The workflow is being cancelled: the wait below fails with it.
        () => undefined,
      );
    }
    await condition(() => due || ready());
    const ticked = due && !ready();
    if (ticked) due = false;
    return ticked;
  };
}

export async function runEntity<S, D>(
  state: EntityState<S, D>,
  behaviour: EntityBehaviour<S, D>,
  restart: (state: EntityState<S, D>) => Promise<never>,
  options: { rollbackRevisions?: (state: EntityState<S, D>) => number[] } = {},
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
    if (message.generation < state.generation) return; // a stale delivery (resync, second controller)
    // The controller parsed the spec with the kind's schema: this is where the workflow trusts its type.
    const spec = message.spec as S;
    if (message.generation === state.generation) {
      // A duplicate (resync, a restarted controller): nothing to do, but keep the parsed form, so a spec that
      // an older version stored without some defaults gets them.
      state.spec = spec;
      return;
    }
    state.generation = message.generation;
    state.spec = spec;
    state.dirty = true;
  });
  setHandler(deletedSignal, () => {
    state.deleted = true;
    interruptSteps();
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

  let tearingDown = false;
  let beforeWait: { phase: string; message?: string } | undefined;
  observeWaits({
    waiting: (wait) => {
      state.waiting = wait;
      beforeWait ??= {
        phase: state.phase,
        ...(state.message !== undefined ? { message: state.message } : {}),
      };
      setPhase(
        state,
        waitPhase(wait.type),
        `${wait.step}: ${wait.cause} (waiting since ${new Date(wait.since).toISOString()}, ${wait.rounds} round(s))`,
      );
    },
    resumed: (wait, waitedMs) => {
      state.waiting = undefined;
      if (beforeWait) setPhase(state, beforeWait.phase, beforeWait.message);
      beforeWait = undefined;
      state.unreportedWaits = [
        ...(state.unreportedWaits ?? []),
        { step: wait.step, type: wait.type, cause: wait.cause, waitedMs },
      ].slice(-5);
    },
    interrupted: () => state.deleted && !tearingDown,
    announce: async (wait) => {
      try {
        await oneAttempt.writeStatus({
          ...stateRef(state),
          conditions: [
            {
              type: 'Progressing',
              status: 'True',
              reason: waitPhase(wait.type),
              message: `${wait.step} waits to retry: ${wait.cause}`,
            },
          ],
        });
      } catch {
        // The API server is what is down: the phase and the history show the wait.
      }
    },
  });
  const guarded = async (run: () => Promise<void>, reconciling: boolean) => {
    try {
      await run();
    } catch (err) {
      if (err instanceof StepInterrupted) return; // the loop goes on to the teardown
      if (!(err instanceof StepFailure)) throw err;
      if (reconciling) state.reconciledGeneration = state.generation;
      await reportFailure(state, behaviour, err);
    }
    await reportWaits(state);
  };

  const actionable = () =>
    state.deleted || (!state.paused && (state.dirty || state.rollbackTo !== undefined));
  const mustRestart = () =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= MAX_HISTORY_EVENTS;
  const wait = patched(POLL_TIMER_PATCH) ? pollTimer(state) : timerPerWait(state);
  for (;;) {
    const ticked = await wait(() => actionable() || mustRestart());
    state.wakeups++;
    if (state.deleted) {
      tearingDown = true;
      setPhase(state, 'Deleting');
      await teardown(state, behaviour);
      await condition(allHandlersFinished);
      return;
    }
    if (!hasSpec(state)) {
      // A dependency changed before the first spec arrived: nothing to act on yet.
      state.dirty = false;
    } else if (!state.paused && (state.dirty || state.rollbackTo !== undefined)) {
      state.dirty = false;
      await guarded(() => behaviour.reconcile(state), true);
    } else if (ticked && !state.paused) {
      state.ticks++;
      await guarded(() => behaviour.observe(state), false);
    }
    if (mustRestart()) {
      await condition(allHandlersFinished);
      await restart(state);
    }
  }
}
