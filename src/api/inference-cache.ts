import { z } from 'zod';
import { duration, positiveInt, ratio, resourceRef } from './common.ts';
import { conditionsField, observedGenerationField } from './conditions.ts';
import { resourceSchema } from './resource.ts';

export const KIND_INFERENCE_CACHE = 'InferenceCache';

/** Block sizes vLLM accepts for --block-size on CUDA. */
const BLOCK_SIZES = [1, 8, 16, 32, 64, 128] as const;

const KvCacheTransferPolicySchema = z
  .strictObject({
    thresholdHitRate: ratio(
      'The lowest windowed prefix-cache hit rate (Δhits/Δqueries) the pool should hold; below it, a transfer moves hot prefixes off the hottest replica.',
    ).default(0.8),
    evictionThreshold: ratio(
      'The highest KV-cache usage (vllm:kv_cache_usage_perc, 0-1) a replica may hold; at or above it, the replica is evicted.',
    ).default(0.9),
    sustainedPolls: positiveInt(
      'Consecutive polls a threshold must stay crossed before an action fires (hysteresis).',
    ).default(3),
    cooldown: duration('Minimum time between two automatic actions on the same target.', '5m'),
  })
  .describe('When the cache loop evicts or transfers KV cache.');

/** Until the workflow deploys LMCache servers itself, only an existing server (remoteUrl) is accepted. */
const LMCACHE_DEPLOY_UNSUPPORTED =
  'deploying an LMCache server is not supported yet: set remoteUrl to an existing LMCache server (lm://host:port)';

const LmCacheSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Deploy an LMCache server the replicas share (not supported yet: set remoteUrl).'),
    image: z.string().min(1).default('lmcache/vllm-openai:latest').describe('LMCache server image.'),
    remoteUrl: z
      .string()
      .regex(/^(lm|redis|rediss|mooncakestore):\/\/\S+$/, {
        error: 'must be an LMCache remote URL such as lm://host:port',
      })
      .optional()
      .describe('An existing LMCache server to use instead of deploying one.'),
    sizeGiB: z
      .number()
      .gt(0)
      .default(20)
      .describe('Capacity of the LMCache server deployed with enabled (not used with remoteUrl).'),
  })
  .superRefine((lmcache, ctx) => {
    if (lmcache.enabled && lmcache.remoteUrl === undefined)
      ctx.addIssue({ code: 'custom', path: ['enabled'], message: LMCACHE_DEPLOY_UNSUPPORTED });
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '!self.enabled || has(self.remoteUrl)',
        message: LMCACHE_DEPLOY_UNSUPPORTED,
        fieldPath: '.enabled',
      },
    ],
  })
  .describe(
    'A remote LMCache server as a cache tier beyond GPU and CPU memory: the replicas get the LMCacheConnectorV1 connector and the LMCACHE_* settings.',
  );

const TiersSchema = z
  .strictObject({
    cpuOffloadGiB: z
      .number()
      .min(0, { error: 'must be 0 or more' })
      .default(0)
      .describe(
        'KV cache offloaded to CPU memory per replica, in GiB (--kv-offloading-size); 0 disables it.',
      ),
    lmcache: LmCacheSchema.optional(),
  })
  .describe('Cache tiers beyond GPU memory.');

export const InferenceCacheSpecSchema = z
  .strictObject({
    modelName: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256)
      .describe(
        'The served model whose replicas this cache manages; must equal the modelName of the services that reference it.',
      ),
    kvCacheTransferPolicy: KvCacheTransferPolicySchema.prefault({}),
    pddRef: resourceRef(
      'Name of the PrefillDecodingDisaggregation (same namespace) for this model.',
    ).optional(),
    sdRef: resourceRef('Name of the SpeculativeDecoding (same namespace) for this model.').optional(),
    prefixCaching: z
      .boolean()
      .default(true)
      .describe('Enable automatic prefix caching (--enable-prefix-caching).'),
    blockSize: z
      .literal(BLOCK_SIZES, { error: `must be one of ${BLOCK_SIZES.join(', ')}` })
      .default(16)
      .meta({ type: 'integer' })
      .describe('Tokens per KV-cache block (--block-size).'),
    pollInterval: duration('How often the cache loop scrapes every replica.', '15s'),
    window: duration('The window the hit rate is computed over.', '2m'),
    tiers: TiersSchema.prefault({}),
  })
  .describe('Desired state of an InferenceCache: KV-cache policy and sizing for one model.');

const ReplicaCacheStatusSchema = z.strictObject({
  name: z.string().describe('Replica name.'),
  hitRate: z.number().min(0).max(1).optional().describe('Windowed prefix-cache hit rate.'),
  kvUsage: z.number().min(0).max(1).optional().describe('KV-cache usage, 0-1.'),
  running: z.number().min(0).optional().describe('Requests running.'),
  waiting: z.number().min(0).optional().describe('Requests waiting.'),
});

const CacheActionSchema = z.strictObject({
  action: z.enum(['Evict', 'Transfer']).describe('What was done.'),
  target: z.string().describe('The replica (or "from -> to" pair) acted on.'),
  reason: z.string().describe('The numbers that triggered it.'),
  time: z.iso.datetime({ offset: true }).describe('When it was done.'),
  manual: z.boolean().default(false).describe('Whether an operator forced it.'),
  effect: z
    .string()
    .optional()
    .describe('Transfer: the pool hit rate before and over the polls after, and whether it rose.'),
});

const PolicyOverrideStatusSchema = z.strictObject({
  thresholdHitRate: z.number().min(0).max(1).optional().describe('Overridden thresholdHitRate.'),
  evictionThreshold: z.number().min(0).max(1).optional().describe('Overridden evictionThreshold.'),
  sustainedPolls: z.int().min(1).optional().describe('Overridden sustainedPolls.'),
  cooldown: z.string().optional().describe('Overridden cooldown.'),
  expiresAt: z.iso.datetime({ offset: true }).describe('When the spec thresholds apply again.'),
  reason: z.string().optional().describe('Why the operator set it.'),
});

const InferenceCacheStatusSchema = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    conditions: conditionsField(),
    poolHitRate: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Windowed prefix-cache hit rate of all replicas.'),
    maxKvUsage: z.number().min(0).max(1).optional().describe('Highest KV-cache usage of any replica.'),
    replicas: z.array(ReplicaCacheStatusSchema).optional().describe('Per-replica cache statistics.'),
    lastAction: CacheActionSchema.optional().describe('The most recent eviction or transfer.'),
    suppressedAction: CacheActionSchema.omit({ manual: true, effect: true })
      .optional()
      .describe('The last automatic action not taken because automatic actions are paused.'),
    lastFailure: z
      .strictObject({
        action: z.string().describe('The action that failed.'),
        target: z.string().describe('The replica (or "from -> to" pair).'),
        error: z.string().describe('What went wrong.'),
        time: z.iso.datetime({ offset: true }).describe('When.'),
      })
      .optional()
      .describe('The most recent cache action that failed.'),
    actionsPaused: z
      .boolean()
      .optional()
      .describe('Automatic actions are paused (pauseActions); the loop still polls and reports.'),
    policyOverride: PolicyOverrideStatusSchema.optional().describe(
      'Thresholds set with setPolicy that replace the spec until they expire.',
    ),
    evictions: z.int().min(0).optional().describe('Evictions performed.'),
    transfers: z.int().min(0).optional().describe('Transfers performed.'),
    services: z
      .array(z.string())
      .optional()
      .describe('InferenceServices the cache settings are published to.'),
  })
  .describe('Observed state of an InferenceCache.');

export const InferenceCacheSchema = resourceSchema(
  KIND_INFERENCE_CACHE,
  InferenceCacheSpecSchema,
  InferenceCacheStatusSchema,
);

export type InferenceCache = z.infer<typeof InferenceCacheSchema>;
export type InferenceCacheSpec = z.infer<typeof InferenceCacheSpecSchema>;
