/* What the InferenceService workflow rolls out: the rendered groups of one revision, as plain JSON. */

/** The one role type: of a serving group, a replica, a gateway endpoint, a cache replica. */
export type ServingRole = 'both' | 'prefill' | 'decode';

export interface ServingGroup {
  /** Deployment name. */
  name: string;
  role: ServingRole;
  replicas: number;
  /** `vllm serve` arguments after the model. */
  args: string[];
  /** GPUs per replica (tensor parallel × pipeline parallel). */
  gpus: number;
  nodeSelector: Record<string, string>;
}

export interface ServingPlan {
  namespace: string;
  /** The InferenceService that owns everything in the plan. */
  owner: { name: string; uid: string };
  /** Service name; Deployment names derive from it. */
  backend: string;
  modelName: string;
  /** The model vLLM loads. */
  model: string;
  engine: 'vllm' | 'simulator';
  image: string;
  port: number;
  gpuResource: string;
  env: { name: string; value: string }[];
  podTemplate?: Record<string, unknown>;
  groups: ServingGroup[];
  /** Digest of everything above; equal digests need no rollout. */
  digest: string;
}

/** A plan together with the revision it was rolled out as. */
export interface Revision {
  revision: number;
  plan: ServingPlan;
}

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  instance: 'app.kubernetes.io/instance',
  service: 'production-stack.vllm.ai/inference-service',
  model: 'production-stack.vllm.ai/model',
  role: 'production-stack.vllm.ai/role',
  revision: 'production-stack.vllm.ai/revision',
} as const;

export const FINALIZER = 'production-stack.vllm.ai/finalizer';

/** A model name as a label value: lower case, [a-z0-9.-], at most 63 characters. */
export function modelLabelValue(model: string): string {
  return model
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-z0-9]+$/, '');
}
