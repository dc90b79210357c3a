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
 * ServiceAccount. The process runtime deploys none (undefined): locally `infctl gateway` runs beside the worker
 * (as `make demo` does) and the worker finds it through INFCTL_GATEWAY_ADMIN_URLS.
 */
export interface GatewayRuntime {
  deployGateway(target: GatewayTarget): Promise<GatewayDeployment | undefined>;
}

/** The process runtime's side: nothing to deploy. */
export const LOCAL_GATEWAYS: GatewayRuntime = { deployGateway: () => Promise.resolve(undefined) };
