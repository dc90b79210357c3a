/**
 * The durability rule on the workflow side: a step that fails for a transient reason (its activity used up its
 * few quick attempts) is waited out here, as long as it takes, with a growing timer in the history and the
 * wait in the resource's phase; a permanent failure (a non-retryable ApplicationFailure from the activity
 * boundary) is thrown on as a {@link StepFailure} for the resource to report as a condition. Nothing the outside
 * world does fails the workflow.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  log,
  TimeoutFailure,
} from '@temporalio/workflow';

export interface Wait {
  step: string;
  /** The failure type of the last attempt (KubernetesUnavailable, ...). */
  type: string;
  cause: string;
  since: number;
  rounds: number;
}

export interface WaitObserver {
  waiting(wait: Wait): void;
  resumed(wait: Wait, waitedMs: number): void;
  /** Called once when a wait starts: shows it where it can (the resource's status); must not throw. */
  announce?(wait: Wait): Promise<void>;
  /** True when the wait should stop (the resource is being deleted): the step throws {@link StepInterrupted}. */
  interrupted(): boolean;
}

/** Each workflow run has its own module state (the SDK isolates runs), so one observer per run. */
let observer: WaitObserver | undefined;
export function observeWaits(o: WaitObserver): void {
  observer = o;
}

/**
 * A step that failed permanently, with the activity boundary's stable type (KubernetesRejected, EngineMissing,
 * ...). An ApplicationFailure, so an update handler that meets one rejects the update instead of failing the
 * workflow task.
 */
export class StepFailure extends ApplicationFailure {
  constructor(
    readonly step: string,
    type: string,
    message: string,
  ) {
    super(message, type, true);
  }
  get failureType(): string {
    return this.type ?? 'Error';
  }
}

/** A step's wait was cut short because the resource is being deleted. */
export class StepInterrupted extends ApplicationFailure {
  constructor(readonly step: string) {
    super(`${step} interrupted: the resource is being deleted`, 'StepInterrupted', true);
  }
}

/** The innermost failure's type and message, the way the activity boundary classified it. */
function failureOf(err: unknown): { type: string; message: string; permanent: boolean } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { type: cause.type ?? 'Error', message: cause.message, permanent: cause.nonRetryable === true };
  if (cause instanceof TimeoutFailure)
    return { type: 'ActivityTimeout', message: `timed out (${cause.timeoutType})`, permanent: false };
  return { type: 'Error', message: (cause as Error | undefined)?.message ?? String(cause), permanent: false };
}

/** The timer between rounds: 2 s doubling to 5 min, so a long outage adds a few history events per hour. */
const waitBackoffMs = (round: number) => Math.min(2_000 * 2 ** round, 300_000);

const interrupted = () => observer?.interrupted() ?? false;

/** The scopes of the steps running now, for {@link interruptSteps}. */
const running = new Set<CancellationScope>();

/**
 * Cancels the running steps (a rollout wait too) when the resource is being deleted; the resource's deletion
 * signal calls it. (A condition per step watched for this before: more promises on every step, each one a
 * captured stack trace in the SDK; issue 16.)
 */
export function interruptSteps(): void {
  if (!interrupted()) return;
  for (const scope of running) scope.cancel();
}

/** One attempt of a step, cancelled as soon as the resource is being deleted. */
async function attempt<T>(step: string, call: () => Promise<T>): Promise<T> {
  if (interrupted()) throw new StepInterrupted(step);
  const scope = new CancellationScope();
  running.add(scope);
  try {
    return await scope.run(call);
  } catch (err) {
    if (interrupted() && (err instanceof CancelledFailure || err instanceof ActivityFailure))
      throw new StepInterrupted(step);
    throw err;
  } finally {
    running.delete(scope);
  }
}

/** Runs one step (an activity call) under the durability rule. */
async function durably<T>(step: string, call: () => Promise<T>): Promise<T> {
  let wait: Wait | undefined;
  for (let round = 0; ; round++) {
    try {
      const result = await attempt(step, call);
      if (wait) observer?.resumed(wait, Date.now() - wait.since);
      return result;
    } catch (err) {
      if (!(err instanceof ActivityFailure) || err.cause instanceof CancelledFailure) throw err;
      const failure = failureOf(err);
      if (failure.permanent) throw new StepFailure(step, failure.type, failure.message);
      wait = {
        step,
        type: failure.type,
        cause: failure.message,
        since: wait?.since ?? Date.now(),
        rounds: round + 1,
      };
      log.warn('step failed for a transient reason; waiting to retry', { ...wait });
      observer?.waiting(wait);
      if (round === 0) await observer?.announce?.(wait);
      if (await condition(interrupted, waitBackoffMs(round))) throw new StepInterrupted(step);
    }
  }
}

type Steps<A> = { [K in keyof A]: A[K] };

/** The activities of `proxyActivities`, each call run {@link durably}. */
export function durableSteps<A extends object>(activities: A): Steps<A> {
  return new Proxy(activities, {
    get(target, name) {
      const fn = Reflect.get(target, name) as (...args: unknown[]) => Promise<unknown>;
      if (typeof name !== 'string' || typeof fn !== 'function') return fn;
      return (...args: unknown[]) => durably(name, () => fn(...args));
    },
  });
}
