import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it, mock } from 'node:test';
import { serviceIndex, type ServiceResource } from '../../src/activities/kubernetes/service-cache.ts';
import type { WatchedCollection } from '../../src/kube/informer.ts';

const svc = (namespace: string, name: string, modelName?: string): ServiceResource => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace },
  ...(modelName ? { spec: { modelName } } : {}),
});
const names = (index: ReturnType<typeof serviceIndex>, namespace: string, model: string) =>
  index
    .get(`${namespace}/${model}`)
    .map((s) => s.metadata.name)
    .sort();

describe("the worker cache's model → services index", () => {
  it('keeps services apart by namespace and model', () => {
    const index = serviceIndex();
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
    const index = serviceIndex();
    index.put(svc('a', 'one', 'm'));
    index.put(svc('a', 'one', 'n'));
    assert.deepEqual(names(index, 'a', 'm'), []);
    assert.deepEqual(names(index, 'a', 'n'), ['one']);
    const updated = { ...svc('a', 'one', 'n'), status: { readyReplicas: 2 } };
    index.put(updated);
    assert.equal(index.get('a/n')[0], updated);
  });

  it('forgets a deleted service, and one that loses its model', () => {
    const index = serviceIndex();
    index.put(svc('a', 'one', 'm'));
    index.put(svc('a', 'two', 'm'));
    index.remove(svc('a', 'one'));
    assert.deepEqual(names(index, 'a', 'm'), ['two']);
    index.put(svc('a', 'two'));
    assert.deepEqual(names(index, 'a', 'm'), []);
    index.remove(svc('a', 'never-seen'));
  });

  it('is not trusted from a watch error until the restarted watch has stayed up two seconds', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const index = serviceIndex();
      const informer = new EventEmitter();
      index.track(informer as unknown as WatchedCollection);
      assert.equal(index.fresh, true);
      informer.emit('error', new Error('connection refused'));
      assert.equal(index.fresh, false);
      informer.emit('connect');
      mock.timers.tick(1000);
      informer.emit('error', new Error('connection refused again'));
      mock.timers.tick(5000);
      assert.equal(index.fresh, false, 'trusted after a restart that failed');
      informer.emit('connect');
      mock.timers.tick(1999);
      assert.equal(index.fresh, false);
      mock.timers.tick(1);
      assert.equal(index.fresh, true);
    } finally {
      mock.timers.reset();
    }
  });
});
