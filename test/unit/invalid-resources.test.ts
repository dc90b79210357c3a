import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { formatProblem, validateText } from '../../src/api/index.ts';

type Doc = Record<string, unknown>;
const API = 'production-stack.vllm.ai/v1alpha1';

const gateway = (spec: Doc): Doc => ({
  apiVersion: API,
  kind: 'InferenceGateway',
  metadata: { name: 'gw' },
  spec,
});
const service = (spec: Doc): Doc => ({
  apiVersion: API,
  kind: 'InferenceService',
  metadata: { name: 'svc' },
  spec,
});
const cache = (spec: Doc): Doc => ({
  apiVersion: API,
  kind: 'InferenceCache',
  metadata: { name: 'cache' },
  spec,
});
const sd = (spec: Doc): Doc => ({
  apiVersion: API,
  kind: 'SpeculativeDecoding',
  metadata: { name: 'sd' },
  spec,
});
const pdd = (spec: Doc): Doc => ({
  apiVersion: API,
  kind: 'PrefillDecodingDisaggregation',
  metadata: { name: 'pdd' },
  spec,
});
const route = { model: 'm', inferenceServiceRef: 'svc' };

interface Case {
  name: string;
  doc: Doc | string;
  /** The field path the problem must name. */
  path: string;
  /** A fragment of the message that says what is wrong. */
  says: string;
}

const cases: Case[] = [
  // wrong types
  {
    name: 'threshold is a string',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'redis', threshold: 'high' } } }),
    path: 'spec.nlpFilters.semanticCache.threshold',
    says: 'must be a number',
  },
  {
    name: 'sessionAffinity is a string',
    doc: gateway({ sessionAffinity: 'yes', routes: [route] }),
    path: 'spec.sessionAffinity',
    says: 'must be a boolean',
  },
  {
    name: 'routes is an object',
    doc: gateway({ routes: { model: 'm' } }),
    path: 'spec.routes',
    says: 'must be a list',
  },
  {
    name: 'replicas is fractional',
    doc: service({ modelName: 'm', runtime: { replicas: 1.5 } }),
    path: 'spec.runtime.replicas',
    says: 'integer',
  },
  {
    name: 'modelName is a number',
    doc: service({ modelName: 70 }),
    path: 'spec.modelName',
    says: 'must be a string',
  },
  {
    name: 'blockedPatterns is a string',
    doc: service({ modelName: 'm', nlpFilters: { promptGuard: { blockedPatterns: 'SSN' } } }),
    path: 'spec.nlpFilters.promptGuard.blockedPatterns',
    says: 'must be a list',
  },
  // values out of range
  {
    name: 'threshold above 1',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'redis', threshold: 1.5 } } }),
    path: 'spec.nlpFilters.semanticCache.threshold',
    says: 'between 0 and 1',
  },
  {
    name: 'thresholdHitRate below 0',
    doc: cache({ modelName: 'm', kvCacheTransferPolicy: { thresholdHitRate: -0.1 } }),
    path: 'spec.kvCacheTransferPolicy.thresholdHitRate',
    says: 'between 0 and 1',
  },
  {
    name: 'evictionThreshold above 1',
    doc: cache({ modelName: 'm', kvCacheTransferPolicy: { evictionThreshold: 90 } }),
    path: 'spec.kvCacheTransferPolicy.evictionThreshold',
    says: 'between 0 and 1',
  },
  {
    name: 'ttlSeconds zero',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'redis', ttlSeconds: 0 } } }),
    path: 'spec.nlpFilters.semanticCache.ttlSeconds',
    says: 'positive integer',
  },
  {
    name: 'ttlSeconds fractional',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'redis', ttlSeconds: 1.5 } } }),
    path: 'spec.nlpFilters.semanticCache.ttlSeconds',
    says: 'integer',
  },
  {
    name: 'tensorParallelSize zero',
    doc: service({ modelName: 'm', runtime: { tensorParallelSize: 0 } }),
    path: 'spec.runtime.tensorParallelSize',
    says: 'positive integer',
  },
  {
    name: 'numSpeculativeTokens too many',
    doc: sd({ draftModel: 'a', targetModel: 'b', numSpeculativeTokens: 64 }),
    path: 'spec.numSpeculativeTokens',
    says: 'between 1 and 16',
  },
  {
    name: 'listener port out of range',
    doc: gateway({ listener: { port: 70000 }, routes: [route] }),
    path: 'spec.listener.port',
    says: 'at most 65535',
  },
  {
    name: 'loadBound below 1',
    doc: gateway({ loadBound: 0.5, routes: [route] }),
    path: 'spec.loadBound',
    says: 'at least 1',
  },
  {
    name: 'blockSize not a vLLM block size',
    doc: cache({ modelName: 'm', blockSize: 12 }),
    path: 'spec.blockSize',
    says: 'must be one of',
  },
  {
    name: 'pollInterval not a duration',
    doc: cache({ modelName: 'm', pollInterval: '15 seconds' }),
    path: 'spec.pollInterval',
    says: 'duration',
  },
  {
    name: 'prefill replicas zero',
    doc: pdd({ modelName: 'm', prefill: { replicas: 0 } }),
    path: 'spec.prefill.replicas',
    says: 'at least 1',
  },
  // unknown enum values
  {
    name: 'unknown schedulingPolicy',
    doc: gateway({ schedulingPolicy: 'fastest', routes: [route] }),
    path: 'spec.schedulingPolicy',
    says: '"gpu-load-aware"',
  },
  {
    name: 'unknown routeStrategy',
    doc: gateway({ routeStrategy: 'prefixhash', routes: [route] }),
    path: 'spec.routeStrategy',
    says: '"PrefixHash"',
  },
  {
    name: 'unknown speculative method',
    doc: sd({ draftModel: 'a', targetModel: 'b', method: 'medusa2' }),
    path: 'spec.method',
    says: 'must be one of',
  },
  {
    name: 'unknown kvConnector',
    doc: pdd({ modelName: 'm', kvConnector: 'Nixl' }),
    path: 'spec.kvConnector',
    says: '"NixlConnector"',
  },
  {
    name: 'unknown engine',
    doc: service({ modelName: 'm', runtime: { engine: 'tgi' } }),
    path: 'spec.runtime.engine',
    says: '"simulator"',
  },
  // missing required fields
  {
    name: 'service without modelName',
    doc: service({ backendRef: 'b' }),
    path: 'spec.modelName',
    says: 'is required',
  },
  {
    name: 'cache without modelName',
    doc: cache({ pddRef: 'p' }),
    path: 'spec.modelName',
    says: 'is required',
  },
  {
    name: 'speculative decoding without targetModel',
    doc: sd({ draftModel: 'a' }),
    path: 'spec.targetModel',
    says: 'is required',
  },
  {
    name: 'route without inferenceServiceRef',
    doc: gateway({ routes: [{ model: 'm' }] }),
    path: 'spec.routes[0].inferenceServiceRef',
    says: 'is required',
  },
  {
    name: 'semanticCache without storeRef',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { threshold: 0.8 } } }),
    path: 'spec.nlpFilters.semanticCache.storeRef',
    says: 'is required',
  },
  {
    name: 'document without spec',
    doc: { apiVersion: API, kind: 'InferenceCache', metadata: { name: 'c' } },
    path: 'spec',
    says: 'is required',
  },
  {
    name: 'document without metadata.name',
    doc: { apiVersion: API, kind: 'InferenceCache', metadata: {}, spec: { modelName: 'm' } },
    path: 'metadata.name',
    says: 'is required',
  },
  {
    name: 'draft_model method without draftModel',
    doc: sd({ targetModel: 'b' }),
    path: 'spec.draftModel',
    says: 'is required when method is draft_model',
  },
  {
    name: 'gateway without routes',
    doc: gateway({ routes: [] }),
    path: 'spec.routes',
    says: 'at least one route',
  },
  // bad regex and bad patterns
  {
    name: 'regex that does not compile',
    doc: service({ modelName: 'm', nlpFilters: { promptGuard: { blockedPatterns: ['regex:([a-z'] } } }),
    path: 'spec.nlpFilters.promptGuard.blockedPatterns[0]',
    says: 'does not compile',
  },
  {
    name: 'empty regex',
    doc: service({ modelName: 'm', nlpFilters: { promptGuard: { blockedPatterns: ['SSN', 'regex:'] } } }),
    path: 'spec.nlpFilters.promptGuard.blockedPatterns[1]',
    says: 'followed by a regular expression',
  },
  {
    name: 'unknown detector',
    doc: service({ modelName: 'm', nlpFilters: { promptGuard: { blockedPatterns: ['Passport'] } } }),
    path: 'spec.nlpFilters.promptGuard.blockedPatterns[0]',
    says: 'unknown detector "Passport"',
  },
  // duplicate routes and conflicting models
  {
    name: 'duplicate route models',
    doc: gateway({ routes: [route, { model: 'm', inferenceServiceRef: 'other' }] }),
    path: 'spec.routes[1].model',
    says: 'duplicate route for model "m"',
  },
  {
    name: 'draftModel equals targetModel',
    doc: sd({ draftModel: 'llama3-70b', targetModel: 'llama3-70b' }),
    path: 'spec.draftModel',
    says: 'must differ from targetModel',
  },
  {
    name: 'promptLookupMin above promptLookupMax',
    doc: sd({ targetModel: 'b', method: 'ngram', promptLookupMin: 5, promptLookupMax: 2 }),
    path: 'spec.promptLookupMin',
    says: 'must not exceed promptLookupMax',
  },
  // bad names and references
  {
    name: 'upper-case resource name',
    doc: {
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'Llama3_Cache' },
      spec: { modelName: 'm' },
    },
    path: 'metadata.name',
    says: 'DNS-1123',
  },
  {
    name: 'resource name longer than 63',
    doc: {
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'a'.repeat(64) },
      spec: { modelName: 'm' },
    },
    path: 'metadata.name',
    says: 'at most 63',
  },
  {
    name: 'inferenceCacheRef with underscores',
    doc: service({ modelName: 'm', inferenceCacheRef: 'my_cache' }),
    path: 'spec.inferenceCacheRef',
    says: 'DNS-1123',
  },
  {
    name: 'storeRef neither name nor redis URL',
    doc: service({ modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'http://redis:6379' } } }),
    path: 'spec.nlpFilters.semanticCache.storeRef',
    says: 'redis:// or rediss://',
  },
  {
    name: 'gpuType not a label value',
    doc: pdd({ modelName: 'm', topologyHint: { nodeSelector: { gpuType: 'NVIDIA A100' } } }),
    path: 'spec.topologyHint.nodeSelector.gpuType',
    says: 'label value',
  },
  // unknown fields, kinds and versions
  {
    name: 'misspelt field',
    doc: cache({ modelName: 'm', kvCacheTransferPolicy: { tresholdHitRate: 0.8 } }),
    path: 'spec.kvCacheTransferPolicy.tresholdHitRate',
    says: 'unknown field',
  },
  {
    name: 'unknown kind',
    doc: { apiVersion: API, kind: 'InferenceRouter', metadata: { name: 'r' }, spec: {} },
    path: 'kind',
    says: 'unknown kind "InferenceRouter"',
  },
  {
    name: 'kind missing',
    doc: { apiVersion: API, metadata: { name: 'r' }, spec: {} },
    path: 'kind',
    says: 'is required',
  },
  {
    name: 'unknown API version of the group',
    doc: {
      apiVersion: 'production-stack.vllm.ai/v2',
      kind: 'InferenceCache',
      metadata: { name: 'c' },
      spec: { modelName: 'm' },
    },
    path: 'apiVersion',
    says: 'unknown version of production-stack.vllm.ai',
  },
  {
    name: 'another group',
    doc: {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 's' },
      spec: {},
    },
    path: 'apiVersion',
    says: 'unknown API version',
  },
  { name: 'not a mapping', doc: '- just\n- a list\n', path: '', says: 'must be a YAML mapping' },
];

describe('invalid resources are rejected with a message naming the field', () => {
  it('covers at least 30 cases', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  });

  for (const c of cases) {
    it(c.name, () => {
      const text = typeof c.doc === 'string' ? c.doc : stringify(c.doc);
      const { resources, problems } = validateText('case.yaml', text);
      assert.equal(resources.length, 0, 'the document must not be accepted');
      const named = problems.find((p) => p.path === c.path);
      assert.ok(
        named,
        `no problem names ${c.path || '(document)'}; got:\n${problems.map(formatProblem).join('\n')}`,
      );
      assert.equal(named.severity, 'error');
      assert.ok(named.message.includes(c.says), `"${named.message}" does not say "${c.says}"`);
      const line = formatProblem(named);
      assert.ok(line.startsWith('case.yaml:1: '), line);
      assert.ok(line.includes(`: ${c.path || '(document)'}: `), line);
    });
  }
});
