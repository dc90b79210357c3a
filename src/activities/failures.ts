/**
 * The activity boundary's error classes. Every activity's error leaves as an ApplicationFailure with a stable
 * type: transient ones (the API server unreachable, 5xx, 429, a conflict) stay retryable and the workflow waits
 * them out; permanent ones (an object the API server rejects, a forbidden call, a missing engine binary) are
 * non-retryable, so the workflow reports them as a condition at once instead of retrying what cannot succeed.
 */
import { ApplicationFailure } from '@temporalio/common';
import { KubeApiError, KubeUnavailableError } from '../kube/client.ts';

/** Failure types the workflows act on. */
export const FailureType = {
  /** The API server did not answer, answered 5xx/429, or reported a conflict: wait and retry. */
  KubernetesUnavailable: 'KubernetesUnavailable',
  /** The API server refused the object (400, 422, ...): the spec must change. */
  KubernetesRejected: 'KubernetesRejected',
  /** The controller's identity may not make the call (401, 403): the RBAC must change. */
  KubernetesForbidden: 'KubernetesForbidden',
  /** A resource that must exist does not (404 where a GET/find would not do). */
  KubernetesNotFound: 'KubernetesNotFound',
  /** The engine binary (vllm, the simulator) is not installed where the replicas run. */
  EngineMissing: 'EngineMissing',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** The Kubernetes statuses worth retrying: conflicts, throttling, server errors, and 410 (a stale list). */
const TRANSIENT_STATUS = new Set([408, 409, 410, 429]);

function permanentKubeType(status: number): FailureType | undefined {
  if (status >= 500 || TRANSIENT_STATUS.has(status) || status < 400) return undefined;
  if (status === 401 || status === 403) return FailureType.KubernetesForbidden;
  if (status === 404) return FailureType.KubernetesNotFound;
  return FailureType.KubernetesRejected;
}

/** Turns any error an activity throws into the ApplicationFailure the workflow classifies by type. */
export function classify(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof KubeApiError) {
    const type = permanentKubeType(err.status);
    return type
      ? ApplicationFailure.create({ type, message: err.message, nonRetryable: true, details: [err.status] })
      : ApplicationFailure.create({ type: FailureType.KubernetesUnavailable, message: err.message });
  }
  if (err instanceof KubeUnavailableError)
    return ApplicationFailure.create({ type: FailureType.KubernetesUnavailable, message: err.message });
  const errno = err as NodeJS.ErrnoException;
  if (errno?.code === 'ENOENT' && typeof errno.syscall === 'string' && errno.syscall.startsWith('spawn')) {
    const binary = errno.syscall.slice('spawn '.length) || errno.path;
    return ApplicationFailure.create({
      type: FailureType.EngineMissing,
      message: `the engine binary "${binary}" is not installed on the worker: install it, point INFCTL_VLLM at it, or set spec.runtime.engine to simulator`,
      nonRetryable: true,
    });
  }
  return err;
}

type AsyncFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/** Wraps every activity so its errors cross the boundary classified. */
export function classified<A extends AsyncFunctions>(activities: A): A {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw classify(err);
      }
    };
  }
  return out as A;
}
