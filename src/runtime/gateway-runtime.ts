import type { InferenceGatewaySpec } from '../api/index.ts';

/** The InferenceGateway a runtime deploys the gateway for. */
export interface GatewayTarget {
  namespace: string;
  name: string;
  spec: InferenceGatewaySpec;
}

/** Where the deployed gateway answers, for the InferenceGateway's status and the worker's cache transfers. */
export interface GatewayDeployment {
  /** The OpenAI-compatible endpoint (`http://host:spec.listener.port`). */
  address: string;
  /** The admin API (hot prefixes, ownership shifts); its bearer token is in `adminSecret`. */
  adminUrl: string;
  /** The Secret (same namespace) holding the admin token under `token`; absent for a local process. */
  adminSecret?: string;
  /** Replicas asked for and ready. */
  replicas: number;
  readyReplicas: number;
  /** What was applied, for the audit. */
  applied: string[];
}

/**
 * Deploys the gateway an InferenceGateway describes. On Kubernetes: its Deployment, Service, Secret and
 * ServiceAccount, owned by the InferenceGateway. On the process runtime: one local `infctl gateway` process,
 * its admin token in a file of the runtime's folder.
 */
export interface GatewayRuntime {
  /** Idempotent: called on every reconcile and poll; starts what is missing, adopts what runs. */
  deployGateway(target: GatewayTarget): Promise<GatewayDeployment>;
  /** Stops what deployGateway started (on Kubernetes, owner references do it: nothing to stop). */
  deleteGateway(namespace: string, name: string): Promise<string[]>;
  /** The admin token of a gateway this runtime deployed, from the InferenceGateway's status; undefined if none. */
  adminToken(namespace: string, name: string, status: { adminSecret?: string }): Promise<string | undefined>;
}
