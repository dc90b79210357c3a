import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceIndex, type ServiceResource } from '../../src/activities/kubernetes/service-cache.ts';

const svc = (namespace: string, name: string, modelName?: string): ServiceResource => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace },
  ...(modelName ? { spec: { modelName } } : {}),
});
const names = (index: ServiceIndex, namespace: string, model: string) =>
  index
    .servicesOfModel(namespace, model)
    .map((s) => s.metadata.name)
    .sort();

describe('the model → services index of the worker cache', () => {
  it('keeps services apart by namespace and model', () => {
    const index = new ServiceIndex();
    index.put(svc('a', 'one', 'm'));
    index.put(svc('a', 'two', 'm'));
    index.put(svc('b', 'one', 'm'));
    index.put(svc('a', 'three', 'other'));
    assert.deepEqual(names(index, 'a', 'm'), ['one', 'two']);
    assert.deepEqual(names(index, 'b', 'm'), ['one']);
    assert.deepEqual(names(index, 'a', 'other'), ['three']);
    assert.deepEqual(names(index, 'c', 'm'), []);
  });

  it('moves a service whose spec changes model, and answers its latest version', () => {
    const index = new ServiceIndex();
    index.put(svc('a', 'one', 'm'));
    index.put(svc('a', 'one', 'n'));
    assert.deepEqual(names(index, 'a', 'm'), []);
    assert.deepEqual(names(index, 'a', 'n'), ['one']);
    const updated = { ...svc('a', 'one', 'n'), status: { readyReplicas: 2 } };
    index.put(updated);
    assert.equal(index.servicesOfModel('a', 'n')[0], updated);
  });

  it('forgets a deleted service, and one that loses its model', () => {
    const index = new ServiceIndex();
    index.put(svc('a', 'one', 'm'));
    index.put(svc('a', 'two', 'm'));
    index.remove(svc('a', 'one'));
    assert.deepEqual(names(index, 'a', 'm'), ['two']);
    index.put(svc('a', 'two'));
    assert.deepEqual(names(index, 'a', 'm'), []);
    index.remove(svc('a', 'never-seen'));
  });
});
