import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  InferenceCacheSpecSchema,
  InferenceServiceSpecSchema,
  PrefillDecodingDisaggregationSpecSchema,
  SpeculativeDecodingSpecSchema,
} from '../../src/api/index.ts';
import { renderPlan, type RenderInput } from '../../src/activities/vllm/render.ts';
import { deploymentFor, mergeOverlay } from '../../src/runtime/kubernetes/manifests.ts';

const FLAGS = new Set(
  readFileSync(new URL('../fixtures/vllm/serve-flags.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('-')),
);

const everything: RenderInput = {
  namespace: 'default',
  name: 'svc',
  uid: 'uid-1',
  spec: InferenceServiceSpecSchema.parse({
    modelName: 'qwen3-8b',
    runtime: {
      model: 'Qwen/Qwen3-8B',
      tensorParallelSize: 2,
      pipelineParallelSize: 2,
      maxModelLen: 8192,
      gpuMemoryUtilization: 0.85,
      extraArgs: ['--max-num-seqs=64'],
    },
  }),
  cache: InferenceCacheSpecSchema.parse({
    modelName: 'qwen3-8b',
    blockSize: 32,
    tiers: { cpuOffloadGiB: 16 },
  }),
  pdd: PrefillDecodingDisaggregationSpecSchema.parse({
    modelName: 'qwen3-8b',
    kvConnector: 'LMCacheConnectorV1',
    prefill: { replicas: 2, tensorParallelSize: 4 },
    topologyHint: { nodeSelector: { gpuType: 'NVIDIA-H100', zone: 'rack2' } },
  }),
  sd: SpeculativeDecodingSpecSchema.parse({
    draftModel: 'Qwen/Qwen3-0.6B',
    targetModel: 'qwen3-8b',
    numSpeculativeTokens: 4,
  }),
};

describe('vLLM argument rendering', () => {
  it('renders only flags that vllm serve accepts', () => {
    const variants: RenderInput[] = [
      everything,
      { ...everything, pdd: undefined },
      {
        ...everything,
        cache: InferenceCacheSpecSchema.parse({ modelName: 'qwen3-8b', prefixCaching: false }),
        sd: SpeculativeDecodingSpecSchema.parse({
          targetModel: 'qwen3-8b',
          method: 'ngram',
          promptLookupMin: 2,
          promptLookupMax: 4,
        }),
      },
    ];
    for (const input of variants) {
      for (const group of renderPlan(input).groups) {
        for (const arg of group.args.filter((a) => a.startsWith('-'))) {
          const flag = arg.split('=')[0] as string;
          assert.ok(FLAGS.has(flag), `${flag} is not in serve-flags.txt`);
        }
      }
    }
  });

  it('renders TP, PP, cache, CPU offload, speculative and KV-transfer flags per role', () => {
    const plan = renderPlan(everything);
    assert.deepEqual(
      plan.groups.map((g) => [g.name, g.role, g.replicas, g.gpus]),
      [
        ['svc-prefill', 'prefill', 2, 8],
        ['svc-decode', 'decode', 1, 2],
      ],
    );
    const prefill = plan.groups[0]?.args.join(' ') ?? '';
    assert.match(prefill, /--tensor-parallel-size 4 --pipeline-parallel-size 2/);
    assert.match(
      prefill,
      /--enable-prefix-caching --block-size 32 --kv-offloading-size 16 --kv-offloading-backend native/,
    );
    assert.match(
      prefill,
      /--speculative-config \{"method":"draft_model","num_speculative_tokens":4,"model":"Qwen\/Qwen3-0.6B","draft_tensor_parallel_size":1\}/,
    );
    assert.match(
      prefill,
      /--kv-transfer-config \{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_producer"\}/,
    );
    assert.match(plan.groups[1]?.args.join(' ') ?? '', /"kv_role":"kv_consumer"/);
    assert.ok(prefill.endsWith('--max-num-seqs=64'), 'extra args come last');
    assert.deepEqual(plan.groups[0]?.nodeSelector, {
      'nvidia.com/gpu.product': 'NVIDIA-H100',
      'topology.kubernetes.io/zone': 'rack2',
    });
  });

  it('uses kv_both for NixlConnector and one group without PDD', () => {
    const nixl = renderPlan({
      ...everything,
      pdd: PrefillDecodingDisaggregationSpecSchema.parse({ modelName: 'qwen3-8b' }),
    });
    assert.ok(nixl.groups.every((g) => g.args.join(' ').includes('"kv_role":"kv_both"')));
    const single = renderPlan({ ...everything, pdd: undefined });
    assert.deepEqual(
      single.groups.map((g) => [g.name, g.role, g.gpus]),
      [['svc', 'both', 4]],
    );
  });

  it('changes the digest exactly when the rendered plan changes', () => {
    const a = renderPlan(everything);
    assert.equal(renderPlan(everything).digest, a.digest);
    const b = renderPlan({
      ...everything,
      sd: SpeculativeDecodingSpecSchema.parse({
        draftModel: 'Qwen/Qwen3-0.6B',
        targetModel: 'qwen3-8b',
        numSpeculativeTokens: 3,
      }),
    });
    assert.notEqual(b.digest, a.digest);
  });
});

describe('Kubernetes manifests', () => {
  it('requests GPUs equal to TP x PP, probes /health, and merges the pod-template overlay last', () => {
    const input: RenderInput = {
      ...everything,
      pdd: undefined,
      spec: InferenceServiceSpecSchema.parse({
        modelName: 'qwen3-8b',
        runtime: {
          tensorParallelSize: 2,
          podTemplate: {
            spec: {
              tolerations: [{ key: 'gpu', operator: 'Exists' }],
              containers: [{ name: 'engine', imagePullPolicy: 'Always' }],
            },
          },
        },
      }),
    };
    const plan = renderPlan(input);
    const d = deploymentFor(plan, plan.groups[0] as never, 3) as {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { tolerations: unknown[]; containers: Record<string, unknown>[] };
        };
      };
    };
    const container = d.spec.template.spec.containers[0] as {
      resources: { limits: Record<string, string> };
      readinessProbe: { httpGet: { path: string } };
      imagePullPolicy: string;
      command: string[];
    };
    assert.equal(container.resources.limits['nvidia.com/gpu'], '2');
    assert.equal(container.readinessProbe.httpGet.path, '/health');
    assert.equal(container.imagePullPolicy, 'Always');
    assert.equal(container.command[0], 'vllm');
    assert.deepEqual(d.spec.template.spec.tolerations, [{ key: 'gpu', operator: 'Exists' }]);
    assert.equal(d.spec.template.metadata.labels['production-stack.vllm.ai/revision'], '3');
  });

  it('merges lists of named items by name', () => {
    assert.deepEqual(
      mergeOverlay(
        { env: [{ name: 'A', value: '1' }] },
        {
          env: [
            { name: 'A', value: '2' },
            { name: 'B', value: '3' },
          ],
        },
      ),
      {
        env: [
          { name: 'A', value: '2' },
          { name: 'B', value: '3' },
        ],
      },
    );
  });

  it('renders an LMCache remote tier: the LMCacheConnectorV1 connector and the documented LMCACHE_* settings', () => {
    const documented = readFileSync(new URL('../fixtures/lmcache/config-env.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    const connector = documented.find((l) => l.startsWith('connector '))?.slice('connector '.length);
    const names = new Set(documented.filter((l) => l.startsWith('LMCACHE_')));
    const plan = renderPlan({
      ...everything,
      pdd: undefined,
      sd: undefined,
      spec: InferenceServiceSpecSchema.parse({
        modelName: 'qwen3-8b',
        runtime: { env: [{ name: 'LMCACHE_CHUNK_SIZE', value: '512' }] },
      }),
      cache: InferenceCacheSpecSchema.parse({
        modelName: 'qwen3-8b',
        tiers: { cpuOffloadGiB: 8, lmcache: { remoteUrl: 'lm://lmcache.cache.svc:65432' } },
      }),
    });
    const args = plan.groups[0]?.args ?? [];
    const kv = JSON.parse(args[args.indexOf('--kv-transfer-config') + 1] ?? '{}') as Record<string, string>;
    assert.deepEqual(kv, { kv_connector: connector, kv_role: 'kv_both' });
    assert.ok(!args.includes('--kv-offloading-size'), "the CPU tier is LMCache's, not vLLM's native one");
    const env = Object.fromEntries(plan.env.map((e) => [e.name, e.value]));
    for (const name of Object.keys(env).filter((n) => n.startsWith('LMCACHE_')))
      assert.ok(names.has(name), `${name} is a documented LMCache setting`);
    assert.equal(env.LMCACHE_REMOTE_URL, 'lm://lmcache.cache.svc:65432');
    assert.equal(env.LMCACHE_LOCAL_CPU, 'True');
    assert.equal(env.LMCACHE_MAX_LOCAL_CPU_SIZE, '8');
    assert.equal(env.PYTHONHASHSEED, '0', 'replicas share chunk keys');
    // The user's own value comes last and wins.
    assert.deepEqual(
      plan.env.filter((e) => e.name === 'LMCACHE_CHUNK_SIZE').map((e) => e.value),
      ['256', '512'],
    );
    // Without the tier nothing of LMCache is rendered.
    const plain = renderPlan({ ...everything, pdd: undefined, sd: undefined });
    assert.ok(!plain.env.some((e) => e.name.startsWith('LMCACHE_')));
    assert.ok(!(plain.groups[0]?.args ?? []).includes('--kv-transfer-config'));
  });

  it('refuses an LMCache tier it would have to deploy, naming the field', () => {
    const parsed = InferenceCacheSpecSchema.safeParse({
      modelName: 'm',
      tiers: { lmcache: { enabled: true } },
    });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['tiers', 'lmcache', 'enabled']);
    assert.match(parsed.error?.issues[0]?.message ?? '', /not supported yet: set remoteUrl/);
  });
});
