import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { dependentActivities, listingServices } from '../../src/activities/kubernetes/dependents.ts';
import { resourceActivities, type StatusUpdate } from '../../src/activities/kubernetes/resources.ts';
import { ServiceCache } from '../../src/activities/kubernetes/service-cache.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { until } from '../helpers/gateway.ts';
import { kubeClientFor, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `it-svc-cache-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
let kubectl: (args: string[], input?: string) => KubectlResult;
let kube: KubeClient;
let cache: ServiceCache;

const apply = (name: string, spec: Record<string, unknown>) => {
  const r = kubectl(
    ['apply', '-n', NS, '-f', '-'],
    stringify({ apiVersion: API, kind: 'InferenceService', metadata: { name }, spec }),
  );
  assert.equal(r.code, 0, r.stderr);
};
const names = async (model: string) =>
  (await cache.servicesOfModel(NS, model)).map((s) => s.metadata.name).sort();
const resourceVersion = () =>
  kubectl(['get', 'inferenceservice', 'svc-a', '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}'])
    .stdout;

describe("the worker's InferenceService cache on the local API server", () => {
  before(async () => {
    const env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    kube = kubeClientFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    apply('svc-a', { modelName: 'model-a', inferenceCacheRef: 'cache-a' });
    cache = await ServiceCache.start(kube, listingServices(kube), { namespace: NS, log: () => {} });
  });
  after(async () => {
    await cache?.stop();
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    await releaseDevEnvironment();
  });

  it('finds what existed before it started, then follows adds, model changes and deletes', async () => {
    assert.deepEqual(await names('model-a'), ['svc-a']);
    apply('svc-b', { modelName: 'model-a' });
    await until('svc-b indexed under model-a', async () =>
      (await names('model-a')).length === 2 ? true : undefined,
    );
    apply('svc-b', { modelName: 'model-b' });
    await until('svc-b moved to model-b', async () =>
      (await names('model-b')).includes('svc-b') ? true : undefined,
    );
    assert.deepEqual(await names('model-a'), ['svc-a']);
    assert.equal(kubectl(['delete', 'inferenceservice', 'svc-b', '-n', NS]).code, 0);
    await until('svc-b gone', async () => ((await names('model-b')).length === 0 ? true : undefined));
    // The same answer as a LIST of the namespace.
    assert.deepEqual(
      (await listingServices(kube).servicesOfModel(NS, 'model-a')).map((s) => s.metadata.name),
      await names('model-a'),
    );
  });

  it("answers a cache tick's services and scrapes their ready replicas, from the published endpoints", async () => {
    // Closed ports: each scrape is refused at once and reported as not answering.
    const endpoints = [
      { name: 'svc-a-1', url: 'http://127.0.0.1:2', ready: true, role: 'both' },
      { name: 'svc-a-0', url: 'http://127.0.0.1:1', ready: true, role: 'both' },
      { name: 'svc-a-2', url: 'http://127.0.0.1:3', ready: false, role: 'both' },
    ];
    await resourceActivities(kube).writeStatus({
      kind: 'InferenceService',
      namespace: NS,
      name: 'svc-a',
      fields: { endpoints },
    });
    const activities = dependentActivities(kube, cache);
    const input = { namespace: NS, model: 'model-a', cacheName: 'cache-a' };
    const tick = await until('the endpoints in the cache', async () => {
      const t = await activities.readCacheTick(input);
      return t.samples.length > 0 ? t : undefined;
    });
    assert.deepEqual(tick.services, ['svc-a']);
    assert.deepEqual(
      tick.samples.map((s) => [s.name, s.url, s.ok]),
      [
        ['svc-a-0', 'http://127.0.0.1:1', false],
        ['svc-a-1', 'http://127.0.0.1:2', false],
      ],
    );
    assert.deepEqual((await activities.readCacheTick({ ...input, cacheName: 'other-cache' })).services, []);
  });

  it('skips a status write that changes nothing stored, and sends one that does', async () => {
    const update: StatusUpdate = {
      kind: 'InferenceService',
      namespace: NS,
      name: 'svc-a',
      fields: { phase: 'Ready', readyReplicas: 2, lastFailure: null },
      conditions: [{ type: 'Ready', status: 'True', reason: 'RolloutComplete', message: 'serving' }],
      observedGeneration: 1,
    };
    assert.equal(await resourceActivities(kube).writeStatus(update), true);
    const written = resourceVersion();
    assert.equal(await resourceActivities(kube).writeStatus(update), true);
    assert.equal(resourceVersion(), written, 'an identical write reached the API server');
    await resourceActivities(kube).writeStatus({ ...update, fields: { ...update.fields, readyReplicas: 3 } });
    assert.notEqual(resourceVersion(), written, 'a changed field was not written');
    const changed = resourceVersion();
    await resourceActivities(kube).writeStatus({
      ...update,
      fields: { ...update.fields, readyReplicas: 3 },
      conditions: [{ type: 'Ready', status: 'False', reason: 'RolloutFailed', message: 'lost' }],
    });
    assert.notEqual(resourceVersion(), changed, 'a changed condition was not written');
  });
});
