import type { ServingPlan, ServingRole } from '../api/index.ts';

/**
 * Where the replicas of an InferenceService run. The worker picks one implementation (Kubernetes Deployments,
 * or local processes for dev, tests and demos) and the activities call it without knowing which.
 */
export interface ReplicaRuntime {
  /** Makes the running replicas match the plan's revision; idempotent, so a retried activity is harmless. */
  apply(plan: ServingPlan, revision: number): Promise<AppliedReplicas>;
  /** Waits until every replica of the revision serves, or fails it; heartbeats and sleeps through `hooks`. */
  awaitReady(
    plan: ServingPlan,
    revision: number,
    timeoutMs: number,
    hooks: RolloutHooks,
  ): Promise<RolloutOutcome>;
  /** The replicas behind the plan as they are now. */
  observe(plan: ServingPlan): Promise<ReplicaObservation>;
  /** Removes everything an InferenceService owns; returns what it removed. Local processes stop at once. */
  deleteOwned(namespace: string, name: string): Promise<string[]> | string[];
}

/** What `apply` created or updated, and what it removed because the plan no longer has it. */
export interface AppliedReplicas {
  applied: string[];
  deleted: string[];
}

/** The activity's heartbeat and cancellable sleep, so runtimes do not depend on the Temporal SDK. */
export interface RolloutHooks {
  heartbeat(details: unknown): void;
  sleep(ms: number): Promise<void>;
}

export interface RolloutOutcome {
  ok: boolean;
  message: string;
}

export interface ReplicaEndpoint {
  name: string;
  url: string;
  role: ServingRole;
  ready: boolean;
  zone?: string;
}

export interface ReplicaObservation {
  /** The replicas the plan asks for. */
  replicas: number;
  readyReplicas: number;
  endpoints: ReplicaEndpoint[];
}

/** The observation of a plan from the endpoints its replicas have. */
export function observationOf(plan: ServingPlan, endpoints: ReplicaEndpoint[]): ReplicaObservation {
  const replicas = plan.groups.reduce((n, g) => n + g.replicas, 0);
  return { replicas, readyReplicas: endpoints.filter((e) => e.ready).length, endpoints };
}
