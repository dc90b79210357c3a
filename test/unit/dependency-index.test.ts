import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyIndex, type Resource } from '../../src/controller/dependency-index.ts';

const r = (
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  generation = 1,
  status?: Record<string, unknown>,
): Resource => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind,
  metadata: { name, namespace: 'ns', generation },
  spec,
  ...(status ? { status } : {}),
});

describe('the dependency index signals the resources that depend on a change', () => {
  const index = new DependencyIndex();
  index.update(r('InferenceService', 'svc', { modelName: 'm', inferenceCacheRef: 'cache' }));
  index.update(r('InferenceService', 'other', { modelName: 'x' }));
  index.update(r('InferenceCache', 'cache', { modelName: 'm', pddRef: 'pdd', sdRef: 'sd' }));
  index.update(r('PrefillDecodingDisaggregation', 'pdd', { modelName: 'm' }));
  index.update(r('SpeculativeDecoding', 'sd', { targetModel: 'm', draftModel: 'd' }));
  index.update(r('InferenceGateway', 'gw', { routes: [{ model: 'm', inferenceServiceRef: 'svc' }] }));

  it('a new SpeculativeDecoding generation reaches the services whose cache links it', () => {
    assert.deepEqual(
      index.update(
        r('SpeculativeDecoding', 'sd', { targetModel: 'm', draftModel: 'd', numSpeculativeTokens: 3 }, 2),
      ),
      [{ kind: 'InferenceService', namespace: 'ns', name: 'svc' }],
    );
  });

  it('an update with the same generation (a status write) signals nothing', () => {
    assert.deepEqual(
      index.update(
        r('SpeculativeDecoding', 'sd', { targetModel: 'm', draftModel: 'd', numSpeculativeTokens: 3 }, 2),
      ),
      [],
    );
  });

  it('a service whose readiness changes reaches its gateway and the PDD of its model, which pairs its pods', () => {
    const out = index.update(
      r('InferenceService', 'svc', { modelName: 'm', inferenceCacheRef: 'cache' }, 1, {
        endpoints: [{ ready: true }],
      }),
    );
    // The cache and the SD read which services there are, not their readiness (their ticks read the replicas).
    assert.deepEqual(out.map((x) => `${x.kind}/${x.name}`).sort(), [
      'InferenceGateway/gw',
      'PrefillDecodingDisaggregation/pdd',
    ]);
  });

  it('a new generation of a service reaches every resource of its model', () => {
    const out = index.update(
      r('InferenceService', 'svc', { modelName: 'm', inferenceCacheRef: 'cache' }, 2, {
        endpoints: [{ ready: true }],
      }),
    );
    assert.deepEqual(out.map((x) => `${x.kind}/${x.name}`).sort(), [
      'InferenceCache/cache',
      'InferenceGateway/gw',
      'PrefillDecodingDisaggregation/pdd',
      'SpeculativeDecoding/sd',
    ]);
  });

  it('a resource seen for the first time reaches the services waiting for it', () => {
    const fresh = new DependencyIndex();
    fresh.update(r('InferenceService', 'waiting', { modelName: 'm', inferenceCacheRef: 'late' }));
    assert.deepEqual(fresh.update(r('InferenceCache', 'late', { modelName: 'm' })), [
      { kind: 'InferenceService', namespace: 'ns', name: 'waiting' },
    ]);
  });
});

describe('the dependency index follows references as they change', () => {
  it('a service that moves to another cache is reached from the new cache only', () => {
    const index = new DependencyIndex();
    index.update(r('InferenceService', 'svc', { modelName: 'm', inferenceCacheRef: 'old' }));
    index.update(r('InferenceCache', 'old', { modelName: 'm' }));
    index.update(r('InferenceCache', 'new', { modelName: 'm' }));
    index.update(r('InferenceService', 'svc', { modelName: 'm', inferenceCacheRef: 'new' }, 2));
    assert.deepEqual(index.update(r('InferenceCache', 'old', { modelName: 'm', blockSize: 32 }, 2)), []);
    assert.deepEqual(index.update(r('InferenceCache', 'new', { modelName: 'm', blockSize: 32 }, 2)), [
      { kind: 'InferenceService', namespace: 'ns', name: 'svc' },
    ]);
  });

  it('a forgotten gateway is no longer reached from its services, and other namespaces never are', () => {
    const index = new DependencyIndex();
    index.update(
      r('InferenceGateway', 'gw', {
        routes: [{ model: 'm', inferenceServiceRef: 'a', split: [{ inferenceServiceRef: 'b' }] }],
      }),
    );
    const elsewhere = { ...r('InferenceService', 'b', { modelName: 'm' }) };
    elsewhere.metadata = { ...elsewhere.metadata, namespace: 'other' };
    assert.deepEqual(index.update(elsewhere), []);
    assert.deepEqual(index.update(r('InferenceService', 'b', { modelName: 'm' })), [
      { kind: 'InferenceGateway', namespace: 'ns', name: 'gw' },
    ]);
    index.forget(r('InferenceGateway', 'gw', {}));
    assert.deepEqual(index.update(r('InferenceService', 'b', { modelName: 'm' }, 2)), []);
  });

  it('a service reaches the observers of its model only, and not after it changed model', () => {
    const index = new DependencyIndex();
    index.update(r('SpeculativeDecoding', 'sd-m', { targetModel: 'm', draftModel: 'd' }));
    index.update(r('PrefillDecodingDisaggregation', 'pdd-x', { modelName: 'x' }));
    assert.deepEqual(index.update(r('InferenceService', 'svc', { modelName: 'm' })), [
      { kind: 'SpeculativeDecoding', namespace: 'ns', name: 'sd-m' },
    ]);
    assert.deepEqual(index.update(r('InferenceService', 'svc', { modelName: 'x' }, 2)), [
      { kind: 'PrefillDecodingDisaggregation', namespace: 'ns', name: 'pdd-x' },
    ]);
  });
});
