import { createHash } from 'node:crypto';
import type {
  InferenceCacheSpec,
  InferenceServiceSpec,
  PrefillDecodingDisaggregationSpec,
  ServingGroup,
  ServingPlan,
  SpeculativeDecodingSpec,
} from '../../api/index.ts';

export interface RenderInput {
  namespace: string;
  name: string;
  uid: string;
  spec: InferenceServiceSpec;
  cache?: InferenceCacheSpec;
  pdd?: PrefillDecodingDisaggregationSpec;
  sd?: SpeculativeDecodingSpec;
}

/** `--speculative-config` JSON for vLLM's SpeculativeConfig. */
function speculativeConfig(sd: SpeculativeDecodingSpec): Record<string, unknown> {
  const config: Record<string, unknown> = {
    method: sd.method,
    num_speculative_tokens: sd.numSpeculativeTokens,
  };
  if (sd.draftModel !== undefined) {
    config.model = sd.draftModel;
    config.draft_tensor_parallel_size = sd.draftTensorParallelSize;
  }
  if (sd.method === 'ngram') {
    if (sd.promptLookupMax !== undefined) config.prompt_lookup_max = sd.promptLookupMax;
    if (sd.promptLookupMin !== undefined) config.prompt_lookup_min = sd.promptLookupMin;
  }
  return config;
}

/** The remote LMCache tier the replicas use, when the cache names one. */
function lmcacheOf(cache: InferenceCacheSpec): { remoteUrl: string } | undefined {
  const lmcache = cache.tiers.lmcache;
  return lmcache?.remoteUrl !== undefined ? { remoteUrl: lmcache.remoteUrl } : undefined;
}

/**
 * LMCache's own settings (LMCache's configuration reference names them; test/fixtures/lmcache pins them): the
 * remote server, raw tensor serialisation, 256-token chunks, the CPU tier, and one hash seed for every replica
 * so they compute the same chunk keys and share the remote cache.
 */
function lmcacheEnv(cache: InferenceCacheSpec | undefined): { name: string; value: string }[] {
  const lmcache = cache && lmcacheOf(cache);
  if (!cache || !lmcache) return [];
  const cpu = cache.tiers.cpuOffloadGiB;
  return [
    { name: 'LMCACHE_REMOTE_URL', value: lmcache.remoteUrl },
    { name: 'LMCACHE_REMOTE_SERDE', value: 'naive' },
    { name: 'LMCACHE_CHUNK_SIZE', value: '256' },
    { name: 'LMCACHE_LOCAL_CPU', value: cpu > 0 ? 'True' : 'False' },
    ...(cpu > 0 ? [{ name: 'LMCACHE_MAX_LOCAL_CPU_SIZE', value: String(cpu) }] : []),
    { name: 'PYTHONHASHSEED', value: '0' },
  ];
}

/** `--kv-transfer-config` JSON: NixlConnector is symmetric (kv_both); the others produce on prefill, consume on decode. */
function kvTransferConfig(
  connector: PrefillDecodingDisaggregationSpec['kvConnector'],
  role: 'prefill' | 'decode',
) {
  const kv_role =
    connector === 'NixlConnector' ? 'kv_both' : role === 'prefill' ? 'kv_producer' : 'kv_consumer';
  return { kv_connector: connector, kv_role };
}

function commonArgs(input: RenderInput, tensorParallelSize: number): string[] {
  const { spec, cache, sd } = input;
  const args = [
    '--served-model-name',
    spec.modelName,
    '--host',
    '0.0.0.0',
    '--port',
    String(spec.runtime.port),
    '--tensor-parallel-size',
    String(tensorParallelSize),
  ];
  if (spec.runtime.pipelineParallelSize > 1)
    args.push('--pipeline-parallel-size', String(spec.runtime.pipelineParallelSize));
  if (spec.runtime.maxModelLen !== undefined) args.push('--max-model-len', String(spec.runtime.maxModelLen));
  if (spec.runtime.gpuMemoryUtilization !== undefined)
    args.push('--gpu-memory-utilization', String(spec.runtime.gpuMemoryUtilization));
  if (cache) {
    args.push(cache.prefixCaching ? '--enable-prefix-caching' : '--no-enable-prefix-caching');
    args.push('--block-size', String(cache.blockSize));
    // With LMCache the CPU tier is LMCache's (LMCACHE_LOCAL_CPU), not vLLM's native offloading.
    if (cache.tiers.cpuOffloadGiB > 0 && !lmcacheOf(cache)) {
      args.push(
        '--kv-offloading-size',
        String(cache.tiers.cpuOffloadGiB),
        '--kv-offloading-backend',
        'native',
      );
    }
  }
  if (sd) args.push('--speculative-config', JSON.stringify(speculativeConfig(sd)));
  return args;
}

/** Renders the serving plan of an InferenceService with its cache, PDD and speculative decoding. */
export function renderPlan(input: RenderInput): ServingPlan {
  const { spec, pdd } = input;
  const backend = spec.backendRef ?? input.name;
  const pp = spec.runtime.pipelineParallelSize;
  const extra = spec.runtime.extraArgs;
  let groups: ServingGroup[];
  if (pdd) {
    const nodeSelector: Record<string, string> = {};
    const hint = pdd.topologyHint;
    if (hint.nodeSelector.gpuType !== undefined)
      nodeSelector[hint.labelKeys.gpuType] = hint.nodeSelector.gpuType;
    if (hint.nodeSelector.zone !== undefined) nodeSelector[hint.labelKeys.zone] = hint.nodeSelector.zone;
    groups = (['prefill', 'decode'] as const).map((role) => {
      const group = pdd[role];
      return {
        name: `${backend}-${role}`,
        role,
        replicas: group.replicas,
        gpus: group.tensorParallelSize * pp,
        nodeSelector,
        args: [
          ...commonArgs(input, group.tensorParallelSize),
          '--kv-transfer-config',
          JSON.stringify(kvTransferConfig(pdd.kvConnector, role)),
          ...extra,
        ],
      };
    });
  } else {
    groups = [
      {
        name: backend,
        role: 'both',
        replicas: spec.runtime.replicas,
        gpus: spec.runtime.tensorParallelSize * pp,
        nodeSelector: {},
        args: [
          ...commonArgs(input, spec.runtime.tensorParallelSize),
          ...(input.cache && lmcacheOf(input.cache)
            ? [
                '--kv-transfer-config',
                JSON.stringify({ kv_connector: 'LMCacheConnectorV1', kv_role: 'kv_both' }),
              ]
            : []),
          ...extra,
        ],
      },
    ];
  }
  const plan: Omit<ServingPlan, 'digest'> = {
    namespace: input.namespace,
    owner: { name: input.name, uid: input.uid },
    backend,
    modelName: spec.modelName,
    model: spec.runtime.model ?? spec.modelName,
    engine: spec.runtime.engine,
    image: spec.runtime.image,
    port: spec.runtime.port,
    gpuResource: spec.runtime.gpuResource,
    // The user's variables come last, so they override ours (the last of a name wins in a container).
    env: [...lmcacheEnv(input.cache), ...spec.runtime.env],
    ...(spec.runtime.podTemplate ? { podTemplate: spec.runtime.podTemplate } : {}),
    groups,
  };
  const digest = createHash('sha256').update(JSON.stringify(plan)).digest('hex').slice(0, 16);
  return { ...plan, digest };
}

/** The activity: rendering is pure, and as an activity its plan is recorded in the history a replay reads. */
export const renderActivities = {
  async renderVllmArgs(input: RenderInput): Promise<ServingPlan> {
    return renderPlan(input);
  },
};
