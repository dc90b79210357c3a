import type { z } from 'zod';
import { InferenceCacheSchema, KIND_INFERENCE_CACHE } from './inference-cache.ts';
import { InferenceGatewaySchema, KIND_INFERENCE_GATEWAY } from './inference-gateway.ts';
import { InferenceServiceSchema, KIND_INFERENCE_SERVICE } from './inference-service.ts';
import { KIND_PDD, PrefillDecodingDisaggregationSchema } from './prefill-decoding-disaggregation.ts';
import { KIND_SPECULATIVE_DECODING, SpeculativeDecodingSchema } from './speculative-decoding.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  schema: z.ZodType;
  printerColumns: PrinterColumn[];
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the resource is ready.',
};
const reasonColumn: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why the resource is or is not ready.',
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

export const KINDS: readonly KindInfo[] = [
  {
    kind: KIND_INFERENCE_GATEWAY,
    plural: 'inferencegateways',
    singular: 'inferencegateway',
    shortNames: ['infgw'],
    description:
      'Routes OpenAI-compatible traffic to InferenceServices with GPU-load-aware, cache-aware strategies.',
    schema: InferenceGatewaySchema,
    printerColumns: [
      {
        name: 'Policy',
        type: 'string',
        jsonPath: '.spec.schedulingPolicy',
        description: 'Scheduling policy.',
      },
      { name: 'Strategy', type: 'string', jsonPath: '.spec.routeStrategy', description: 'Route strategy.' },
      {
        name: 'Routes',
        type: 'string',
        jsonPath: '.status.readyRoutes',
        description: 'Ready routes out of all.',
      },
      readyColumn,
      reasonColumn,
      ageColumn,
    ],
  },
  {
    kind: KIND_INFERENCE_SERVICE,
    plural: 'inferenceservices',
    singular: 'inferenceservice',
    // KServe owns `isvc`; ours must not collide with it.
    shortNames: ['infsvc'],
    description: 'One served model: vLLM replicas with their cache, parallelism and request filters.',
    schema: InferenceServiceSchema,
    printerColumns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.modelName', description: 'Served model name.' },
      {
        name: 'Replicas',
        type: 'integer',
        jsonPath: '.status.replicas',
        description: 'Replicas of every group (prefill and decode included).',
      },
      {
        name: 'Ready-Replicas',
        type: 'integer',
        jsonPath: '.status.readyReplicas',
        description: 'Ready replicas.',
      },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the conditions.' },
      readyColumn,
      {
        name: 'TP',
        type: 'integer',
        jsonPath: '.spec.runtime.tensorParallelSize',
        description: 'Tensor-parallel size.',
        priority: 1,
      },
      {
        name: 'Revision',
        type: 'integer',
        jsonPath: '.status.revision',
        description: 'Current revision.',
        priority: 1,
      },
      ageColumn,
    ],
  },
  {
    kind: KIND_INFERENCE_CACHE,
    plural: 'inferencecaches',
    singular: 'inferencecache',
    shortNames: ['infcache'],
    description: 'KV-cache policy for one model: sizing, tiers, and the loop that evicts or transfers cache.',
    schema: InferenceCacheSchema,
    printerColumns: [
      {
        name: 'Model',
        type: 'string',
        jsonPath: '.spec.modelName',
        description: 'Model whose replicas it manages.',
      },
      {
        name: 'Hit-Rate',
        type: 'number',
        jsonPath: '.status.poolHitRate',
        description: 'Windowed pool prefix-cache hit rate.',
      },
      {
        name: 'KV-Usage',
        type: 'number',
        jsonPath: '.status.maxKvUsage',
        description: 'Highest replica KV-cache usage.',
      },
      {
        name: 'Last-Action',
        type: 'string',
        jsonPath: '.status.lastAction.action',
        description: 'Most recent eviction or transfer.',
      },
      readyColumn,
      {
        name: 'Min-Hit-Rate',
        type: 'number',
        jsonPath: '.spec.kvCacheTransferPolicy.thresholdHitRate',
        description: 'Transfer threshold.',
        priority: 1,
      },
      {
        name: 'Evict-At',
        type: 'number',
        jsonPath: '.spec.kvCacheTransferPolicy.evictionThreshold',
        description: 'Eviction threshold.',
        priority: 1,
      },
      ageColumn,
    ],
  },
  {
    kind: KIND_SPECULATIVE_DECODING,
    plural: 'speculativedecodings',
    singular: 'speculativedecoding',
    shortNames: ['specdec'],
    description: 'Speculative decoding for the replicas serving a target model.',
    schema: SpeculativeDecodingSchema,
    printerColumns: [
      { name: 'Target', type: 'string', jsonPath: '.spec.targetModel', description: 'Model that verifies.' },
      { name: 'Draft', type: 'string', jsonPath: '.spec.draftModel', description: 'Model that proposes.' },
      { name: 'Method', type: 'string', jsonPath: '.spec.method', description: 'Speculative method.' },
      {
        name: 'Tokens',
        type: 'integer',
        jsonPath: '.spec.numSpeculativeTokens',
        description: 'Tokens proposed per step.',
      },
      readyColumn,
      ageColumn,
    ],
  },
  {
    kind: KIND_PDD,
    plural: 'prefilldecodingdisaggregations',
    singular: 'prefilldecodingdisaggregation',
    shortNames: ['pdd'],
    description:
      'Separate prefill and decode replicas for one model, placed by topology, joined by a KV connector.',
    schema: PrefillDecodingDisaggregationSchema,
    printerColumns: [
      {
        name: 'Model',
        type: 'string',
        jsonPath: '.spec.modelName',
        description: 'Model split into prefill and decode.',
      },
      { name: 'Prefill', type: 'string', jsonPath: '.status.prefillPod', description: 'Paired prefill pod.' },
      {
        name: 'Decode',
        type: 'string',
        jsonPath: '.status.decodeTargetPod',
        description: 'Paired decode pod.',
      },
      readyColumn,
      {
        name: 'Connector',
        type: 'string',
        jsonPath: '.spec.kvConnector',
        description: 'KV connector.',
        priority: 1,
      },
      ageColumn,
    ],
  },
];

export const CATEGORY = 'inference';

export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}
