import {
  API_VERSION,
  KIND_INFERENCE_SERVICE,
  LABELS,
  modelLabelValue,
  type ServingGroup,
  type ServingPlan,
} from '../../api/index.ts';
import { engineCommand } from '../engine-command.ts';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge where the overlay wins; lists of named items (containers, env, volumes) merge by name. */
export function mergeOverlay(base: unknown, overlay: unknown): unknown {
  if (isObject(base) && isObject(overlay)) {
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(overlay))
      out[key] = key in base ? mergeOverlay(base[key], value) : value;
    return out;
  }
  if (
    Array.isArray(base) &&
    Array.isArray(overlay) &&
    [...base, ...overlay].every((i) => isObject(i) && typeof i.name === 'string')
  ) {
    const out = base.map((item) => {
      const match = overlay.find((o) => (o as Json).name === (item as Json).name);
      return match ? mergeOverlay(item, match) : item;
    });
    for (const o of overlay) if (!base.some((b) => (b as Json).name === (o as Json).name)) out.push(o);
    return out;
  }
  return overlay;
}

function ownerReference(plan: ServingPlan) {
  return {
    apiVersion: API_VERSION,
    kind: KIND_INFERENCE_SERVICE,
    name: plan.owner.name,
    uid: plan.owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function selectorLabels(plan: ServingPlan, group?: ServingGroup): Record<string, string> {
  return {
    [LABELS.instance]: plan.backend,
    ...(group ? { [LABELS.role]: group.role } : {}),
  };
}

function commonLabels(plan: ServingPlan): Record<string, string> {
  return {
    [LABELS.managedBy]: 'inference-controller',
    [LABELS.service]: plan.owner.name,
    [LABELS.model]: modelLabelValue(plan.modelName),
    [LABELS.instance]: plan.backend,
  };
}

/** In the image: vLLM's entry point on PATH, the simulator where its image puts it; pods listen on plan.port. */
const IMAGE_EXECUTABLES = { vllm: 'vllm', simulator: '/app/llm-d-inference-sim' } as const;

export function deploymentFor(plan: ServingPlan, group: ServingGroup, revision: number): Json {
  const labels = { ...commonLabels(plan), [LABELS.role]: group.role };
  const probe = (failureThreshold: number) => ({
    httpGet: { path: '/health', port: plan.port },
    periodSeconds: 10,
    failureThreshold,
  });
  const resources =
    group.gpus > 0
      ? {
          limits: { [plan.gpuResource]: String(group.gpus) },
          requests: { [plan.gpuResource]: String(group.gpus) },
        }
      : {};
  const template: Json = {
    metadata: {
      labels: { ...labels, [LABELS.revision]: String(revision) },
      annotations: { 'production-stack.vllm.ai/plan-digest': plan.digest },
    },
    spec: {
      ...(Object.keys(group.nodeSelector).length ? { nodeSelector: group.nodeSelector } : {}),
      containers: [
        {
          name: 'engine',
          image: plan.image,
          command: engineCommand(plan, group, { executables: IMAGE_EXECUTABLES }),
          env: [...plan.env, { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
          ports: [{ name: 'http', containerPort: plan.port }],
          resources,
          // vLLM loads weights before /health answers; the startup probe allows up to 30 minutes.
          startupProbe: probe(180),
          readinessProbe: probe(3),
        },
      ],
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: group.name,
      namespace: plan.namespace,
      labels,
      annotations: { 'production-stack.vllm.ai/revision': String(revision) },
      ownerReferences: [ownerReference(plan)],
    },
    spec: {
      replicas: group.replicas,
      selector: { matchLabels: selectorLabels(plan, group) },
      // Keep the serving revision up until the new one is ready.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: plan.podTemplate ? mergeOverlay(template, plan.podTemplate) : template,
    },
  };
}

export function serviceFor(plan: ServingPlan): Json {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: plan.backend,
      namespace: plan.namespace,
      labels: commonLabels(plan),
      ownerReferences: [ownerReference(plan)],
    },
    spec: {
      selector: selectorLabels(plan),
      ports: [{ name: 'http', port: plan.port, targetPort: plan.port }],
    },
  };
}
