import { z } from 'zod';
import { duration, positiveInt, ratio, resourceRef } from './common.ts';
import { conditionsField, observedGenerationField } from './conditions.ts';
import { PROMPT_GUARD_DETECTOR_NAMES, parseBlockedPattern } from './prompt-guard.ts';
import { resourceSchema } from './resource.ts';

export const KIND_INFERENCE_SERVICE = 'InferenceService';

/** A Redis for the semantic cache: a Service name in the cluster (optionally `name.namespace`) or a URL. */
const STORE_REF = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*|rediss?:\/\/\S+)$/;

const SemanticCacheSchema = z
  .strictObject({
    storeRef: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(2048)
      .regex(STORE_REF, {
        error:
          'must be a Redis Service name (DNS-1123, optionally "name.namespace") or a redis:// or rediss:// URL',
      })
      .describe(
        'The Redis that stores cached answers: a Service name in the cluster or a redis:// / rediss:// URL.',
      ),
    threshold: ratio(
      'Cosine similarity in [0, 1] at or above which a cached answer is returned for a new prompt.',
    ).default(0.9),
    ttlSeconds: positiveInt('How long a cached answer lives in Redis, in seconds (the Redis TTL).').default(
      3600,
    ),
    embeddingEndpoint: z
      .url({ error: 'must be an http(s) URL' })
      .optional()
      .describe(
        'An OpenAI-compatible /v1/embeddings endpoint to embed prompts with; when absent the gateway uses its built-in embedder.',
      ),
    embeddingModel: z.string().min(1).optional().describe('The model name sent to embeddingEndpoint.'),
    scope: z
      .enum(['user', 'shared'])
      .default('user')
      .describe(
        'Who may receive a cached answer. "user" (the default): only the tenant that asked first, the tenantHeader value or else the OpenAI "user" field (requests with neither share one anonymous tenant). "shared": every caller of the route. Either way an answer is reused only for the same model, route and sampling parameters (temperature, top_p, max_tokens, n, seed, stop, ...).',
      ),
    tenantHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, { error: 'must be an HTTP header name' })
      .optional()
      .describe(
        'A request header naming the tenant for scope "user", set by an authenticating proxy in front of the gateway; it takes precedence over the client-chosen "user" field.',
      ),
  })
  .describe('Answers semantically similar prompts from Redis instead of the model.');

const PromptGuardSchema = z
  .strictObject({
    blockedPatterns: z
      .array(
        z
          .string()
          .superRefine((entry, ctx) => {
            const parsed = parseBlockedPattern(entry);
            if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
          })
          // The API server checks the shape; whether a regex compiles is reported as InvalidSpec.
          .meta({ pattern: `^(${PROMPT_GUARD_DETECTOR_NAMES.join('|')}|regex:.+)$` })
          .describe(
            `A named detector (${PROMPT_GUARD_DETECTOR_NAMES.join(', ')}) or "regex:" followed by a regular expression.`,
          ),
      )
      .min(1, { error: 'must list at least one pattern' })
      .describe(
        'Prompts matching any of these are rejected with an OpenAI-style 400 error naming the detector (never the matched text).',
      ),
  })
  .describe('Rejects prompts that contain sensitive data.');

const EnvVarSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, { error: 'must be a valid environment variable name' })
    .describe('Variable name.'),
  value: z.string().default('').describe('Variable value.'),
});

const ENGINES = ['vllm', 'simulator'] as const;

const RuntimeSchema = z
  .strictObject({
    engine: z
      .enum(ENGINES)
      .default('vllm')
      .describe(
        '"vllm" runs `vllm serve`; "simulator" runs llm-d-inference-sim (no GPU, for development and tests).',
      ),
    model: z
      .string()
      .min(1)
      .optional()
      .describe('The model vLLM loads (a Hugging Face id or a path); defaults to spec.modelName.'),
    image: z.string().min(1).default('vllm/vllm-openai:v0.11.0').describe('Container image of the engine.'),
    replicas: z
      .int({ error: 'must be an integer' })
      .min(0, { error: 'must be 0 or more' })
      .default(1)
      .describe('Number of serving replicas.'),
    tensorParallelSize: positiveInt(
      'GPUs one replica shards the model across (--tensor-parallel-size).',
    ).default(1),
    pipelineParallelSize: positiveInt('Pipeline stages of one replica (--pipeline-parallel-size).').default(
      1,
    ),
    gpuResource: z
      .string()
      .min(1)
      .default('nvidia.com/gpu')
      .describe(
        'The extended resource name of a GPU; each replica requests tensorParallelSize × pipelineParallelSize.',
      ),
    port: z.int().min(1).max(65535).default(8000).describe('The port vLLM listens on.'),
    maxModelLen: positiveInt(
      'Maximum context length (--max-model-len); the engine default when absent.',
    ).optional(),
    gpuMemoryUtilization: z
      .number()
      .gt(0, { error: 'must be greater than 0' })
      .max(1, { error: 'must be at most 1' })
      .optional()
      .describe('Fraction of GPU memory vLLM may use (--gpu-memory-utilization).'),
    extraArgs: z
      .array(z.string().min(1))
      .default([])
      .describe('More `vllm serve` arguments, appended after the rendered ones.'),
    env: z.array(EnvVarSchema).default([]).describe('Environment variables of the engine container.'),
    podTemplate: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ 'x-kubernetes-preserve-unknown-fields': true })
      .describe(
        'A PodTemplateSpec overlay merged last into the rendered pod template, so any PodSpec field can be set.',
      ),
    rolloutTimeout: duration('How long a rollout may take before it is rolled back.', '10m'),
  })
  .describe('Where and how the replicas run.');

export const InferenceServiceSpecSchema = z
  .strictObject({
    modelName: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256)
      .describe('The model name clients send in requests (--served-model-name); routes match on it.'),
    backendRef: resourceRef(
      'Name of the backend the controller creates for the replicas (Deployment and Service); defaults to the InferenceService name.',
    ).optional(),
    inferenceCacheRef: resourceRef(
      'Name of the InferenceCache (same namespace) whose cache settings, PDD and speculative decoding apply.',
    ).optional(),
    nlpFilters: z
      .strictObject({
        semanticCache: SemanticCacheSchema.optional(),
        promptGuard: PromptGuardSchema.optional(),
      })
      .optional()
      .describe('Filters the gateway applies to requests for this model.'),
    runtime: RuntimeSchema.prefault({}),
  })
  .describe('Desired state of an InferenceService: one served model.');

const EndpointStatusSchema = z.strictObject({
  name: z.string().describe('Replica name (a pod or a local process).'),
  url: z.string().describe('Base URL of the replica, for example http://10.0.0.7:8000.'),
  role: z.enum(['both', 'prefill', 'decode']).default('both').describe('What the replica serves.'),
  ready: z.boolean().default(false).describe('Whether the replica passes its readiness check.'),
  zone: z.string().optional().describe('Topology zone of the node it runs on.'),
});

export const InferenceServiceStatusSchema = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    conditions: conditionsField(),
    phase: z
      .enum(['Pending', 'Progressing', 'Ready', 'Degraded', 'Paused', 'InvalidSpec', 'Deleting'])
      .optional()
      .describe('A one-word summary of the conditions.'),
    replicas: z.int().min(0).optional().describe('Replicas that exist.'),
    readyReplicas: z.int().min(0).optional().describe('Replicas that are ready.'),
    revision: z.int().min(0).optional().describe('The revision being served or rolled out.'),
    lastGoodRevision: z.int().min(0).optional().describe('The last revision that rolled out successfully.'),
    args: z
      .array(z.string())
      .optional()
      .describe('The rendered `vllm serve` arguments of the current revision.'),
    endpoints: z.array(EndpointStatusSchema).optional().describe('The replicas the gateway may route to.'),
  })
  .describe('Observed state of an InferenceService.');

export const InferenceServiceSchema = resourceSchema(
  KIND_INFERENCE_SERVICE,
  InferenceServiceSpecSchema,
  InferenceServiceStatusSchema,
);

export type InferenceService = z.infer<typeof InferenceServiceSchema>;
export type InferenceServiceSpec = z.infer<typeof InferenceServiceSpecSchema>;
export type InferenceServiceStatus = z.infer<typeof InferenceServiceStatusSchema>;
