import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  InferenceCacheSchema,
  InferenceGatewaySchema,
  InferenceServiceSchema,
  PrefillDecodingDisaggregationSchema,
  SpeculativeDecodingSchema,
  parseBlockedPattern,
  parseDuration,
  validateResource,
} from '../../src/api/index.ts';
import { collectFiles } from '../../src/cli/validate.ts';

async function documents(file: string): Promise<unknown[]> {
  return parseAllDocuments(await readFile(file, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((d) => d != null);
}

describe('schemas accept every example', () => {
  it('validates every document under examples/', async () => {
    const { files } = await collectFiles(['examples']);
    assert.ok(
      files.length >= 10,
      `expected the originals and the complete examples, found ${files.length} files`,
    );
    for (const file of files) {
      for (const doc of await documents(file)) {
        const result = validateResource(doc);
        assert.ok(result.ok, `${file}: ${JSON.stringify(result.ok ? [] : result.problems)}`);
      }
    }
  });
});

describe('defaults are applied and explicit values kept', () => {
  it('InferenceService: the original example gains runtime defaults and keeps its filters', async () => {
    const [doc] = await documents('examples/original/inference-service.yaml');
    const svc = InferenceServiceSchema.parse(doc);
    assert.equal(svc.spec.modelName, 'llama3-70b');
    assert.equal(svc.spec.backendRef, 'chatbot-service-backend');
    assert.equal(svc.spec.inferenceCacheRef, 'llama3-chatbot-cache');
    assert.deepEqual(svc.spec.nlpFilters?.semanticCache, {
      storeRef: 'redis-nlp-cache',
      threshold: 0.85,
      ttlSeconds: 3600,
      scope: 'user',
    });
    assert.deepEqual(svc.spec.nlpFilters?.promptGuard?.blockedPatterns, ['Name', 'SSN']);
    assert.deepEqual(svc.spec.runtime, {
      engine: 'vllm',
      image: 'vllm/vllm-openai:v0.11.0',
      replicas: 1,
      tensorParallelSize: 1,
      pipelineParallelSize: 1,
      gpuResource: 'nvidia.com/gpu',
      port: 8000,
      extraArgs: [],
      env: [],
      rolloutTimeout: '10m',
    });
  });

  it('InferenceService: an omitted threshold and TTL take their defaults', () => {
    const svc = InferenceServiceSchema.parse({
      apiVersion: 'production-stack.vllm.ai/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 's' },
      spec: {
        modelName: 'm',
        nlpFilters: { semanticCache: { storeRef: 'redis://r:6379' } },
        runtime: { replicas: 3 },
      },
    });
    assert.equal(svc.spec.nlpFilters?.semanticCache?.threshold, 0.9);
    assert.equal(svc.spec.nlpFilters?.semanticCache?.ttlSeconds, 3600);
    assert.equal(svc.spec.runtime.replicas, 3);
    assert.equal(svc.spec.runtime.tensorParallelSize, 1);
  });

  it('InferenceGateway: explicit policy, strategy and affinity are kept; listener and header defaulted', async () => {
    const [doc] = await documents('examples/original/inference-gateway.yaml');
    const gw = InferenceGatewaySchema.parse(doc);
    assert.equal(gw.spec.schedulingPolicy, 'gpu-load-aware');
    assert.equal(gw.spec.routeStrategy, 'PrefixHash');
    assert.equal(gw.spec.sessionAffinity, true);
    assert.equal(gw.spec.sessionHeader, 'x-session-id');
    assert.equal(gw.spec.loadBound, 1.25);
    assert.deepEqual(gw.spec.listener, { port: 8080 });
    assert.deepEqual(
      gw.spec.routes.map((r) => [r.model, r.inferenceServiceRef, r.weight, r.split]),
      [
        ['llama3-70b', 'llama3-chatbot-service', 100, []],
        ['mistral3', 'mistral-agent-service', 100, []],
      ],
    );
  });

  it('InferenceCache: thresholds kept, loop timings and sizing defaulted', async () => {
    const [doc] = await documents('examples/original/inference-cache.yaml');
    const c = InferenceCacheSchema.parse(doc);
    assert.deepEqual(c.spec.kvCacheTransferPolicy, {
      thresholdHitRate: 0.8,
      evictionThreshold: 0.9,
      sustainedPolls: 3,
      cooldown: '5m',
    });
    assert.equal(c.spec.pddRef, 'pdd-llama3-chatbot');
    assert.equal(c.spec.sdRef, 'sd-llama3-chatbot');
    assert.equal(c.spec.blockSize, 16);
    assert.equal(c.spec.prefixCaching, true);
    assert.equal(c.spec.pollInterval, '15s');
    assert.equal(c.spec.window, '2m');
    assert.deepEqual(c.spec.tiers, { cpuOffloadGiB: 0 });
  });

  it('InferenceCache: a policy with one threshold keeps it and defaults the other', () => {
    const c = InferenceCacheSchema.parse({
      apiVersion: 'production-stack.vllm.ai/v1alpha1',
      kind: 'InferenceCache',
      metadata: { name: 'c' },
      spec: { modelName: 'm', kvCacheTransferPolicy: { evictionThreshold: 0.95 } },
    });
    assert.equal(c.spec.kvCacheTransferPolicy.evictionThreshold, 0.95);
    assert.equal(c.spec.kvCacheTransferPolicy.thresholdHitRate, 0.8);
  });

  it('SpeculativeDecoding: models kept, method and token count defaulted', async () => {
    const [doc] = await documents('examples/original/speculative-decoding.yaml');
    const s = SpeculativeDecodingSchema.parse(doc);
    assert.deepEqual(s.spec, {
      draftModel: 'llama3-1b',
      targetModel: 'llama3-70b',
      method: 'draft_model',
      numSpeculativeTokens: 5,
      draftTensorParallelSize: 1,
    });
  });

  it('PrefillDecodingDisaggregation: topology and status kept, roles and connector defaulted', async () => {
    const [doc] = await documents('examples/original/prefill-decoding-disaggregation.yaml');
    const p = PrefillDecodingDisaggregationSchema.parse(doc);
    assert.deepEqual(p.spec.topologyHint, {
      nodeSelector: { gpuType: 'NVIDIA-A100', zone: 'rack1' },
      labelKeys: { gpuType: 'nvidia.com/gpu.product', zone: 'topology.kubernetes.io/zone' },
    });
    assert.deepEqual(p.spec.prefill, { replicas: 1, tensorParallelSize: 1 });
    assert.deepEqual(p.spec.decode, { replicas: 1, tensorParallelSize: 1 });
    assert.equal(p.spec.kvConnector, 'NixlConnector');
    assert.equal(p.status?.prefillPod, 'llama3-chatbot-prefill-0');
    assert.equal(p.status?.decodeTargetPod, 'llama3-chatbot-decode-1');
  });

  it('parsing the parsed value again changes nothing', async () => {
    const { files } = await collectFiles(['examples']);
    for (const file of files) {
      for (const doc of await documents(file)) {
        const once = validateResource(doc);
        assert.ok(once.ok);
        const twice = validateResource(JSON.parse(JSON.stringify(once.value)));
        assert.ok(twice.ok);
        assert.deepEqual(twice.value, once.value, file);
      }
    }
  });
});

describe('field helpers', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.throws(() => parseDuration('15'), /invalid duration/);
  });

  it('parses blocked patterns: detectors, regexes with inline flags, errors', () => {
    assert.deepEqual(parseBlockedPattern('SSN'), { kind: 'detector', detector: 'SSN' });
    const re = parseBlockedPattern('regex:(?i)internal only');
    assert.ok('kind' in re && re.kind === 'regex');
    assert.ok(re.regex.test('INTERNAL ONLY'));
    assert.ok('error' in parseBlockedPattern('ssn'), 'detector names are case-sensitive');
  });
});
