import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { ServingPlan } from '../../src/api/index.ts';
import { recordEvent, serviceEvents } from '../../src/activities/kubernetes/events.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { KubernetesRuntime } from '../../src/runtime/kubernetes/kubernetes-runtime.ts';
import { PodCache } from '../../src/runtime/kubernetes/pod-cache.ts';
import type { RolloutHooks } from '../../src/runtime/replica-runtime.ts';
import { eventually, kubeClientFor, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';

const NS = `it-k8s-${process.pid}`;
let kubectl: (args: string[], input?: string) => KubectlResult;

const apply = (doc: object) => kubectl(['apply', '-n', NS, '-f', '-'], stringify(doc));
const API = 'production-stack.vllm.ai/v1alpha1';

function gpuDeployment(name: string, gpus: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100', 'topology.kubernetes.io/zone': 'rack1' },
          containers: [
            {
              name: 'vllm',
              image: 'vllm/vllm-openai:v0.11.0',
              resources: { limits: { 'nvidia.com/gpu': String(gpus) } },
            },
          ],
        },
      },
    },
  };
}

/** A plan of one simulator replica owned by the InferenceService `rt` (as renderVllmArgs would shape it). */
const runtimePlan = (uid: string, gpus: number, digest: string): ServingPlan => ({
  namespace: NS,
  owner: { name: 'rt', uid },
  backend: 'rt-backend',
  modelName: 'rt-model',
  model: 'rt-model',
  engine: 'simulator',
  image: 'ghcr.io/llm-d/llm-d-inference-sim:latest',
  port: 8000,
  gpuResource: 'nvidia.com/gpu',
  env: [],
  groups: [{ name: 'rt-backend', role: 'both', replicas: 1, args: [], gpus, nodeSelector: {} }],
  digest,
});

/** The reasons of the Events recorded on the InferenceService `rt`. */
const eventReasons = () =>
  kubectl([
    'get',
    'events',
    '-n',
    NS,
    '--field-selector',
    'involvedObject.name=rt,involvedObject.kind=InferenceService',
    '-o',
    'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
  ])
    .stdout.trim()
    .split('\n');

/** A client that counts its reads (GET and LIST). */
class CountingKube extends KubeClient {
  reads = 0;
  override get<T>(path: string): Promise<T> {
    this.reads++;
    return super.get<T>(path);
  }
}

describe('local Kubernetes control plane with kwok GPU nodes', () => {
  let kube: KubeClient;
  before(async () => {
    const env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    kube = kubeClientFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
  });
  after(async () => {
    // A controller of another test may have added its finalizer to `rt`; the namespace must not wait for it.
    kubectl([
      'patch',
      'inferenceservice',
      'rt',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    await releaseDevEnvironment();
  });

  it('has all five CRDs installed and established', () => {
    const r = kubectl([
      'get',
      'crd',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
    ]);
    const established = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('production-stack.vllm.ai'));
    assert.deepEqual(established.sort(), [
      'inferencecaches.production-stack.vllm.ai=True',
      'inferencegateways.production-stack.vllm.ai=True',
      'inferenceservices.production-stack.vllm.ai=True',
      'prefilldecodingdisaggregations.production-stack.vllm.ai=True',
      'speculativedecodings.production-stack.vllm.ai=True',
    ]);
  });

  it('applies every document in examples/ with kubectl', () => {
    for (const folder of ['examples/original', 'examples/complete']) {
      for (const file of readdirSync(folder)) {
        // The complete examples name namespace "default": every file is checked by the API server with a
        // server-side dry run, and the originals are then created for real in the test namespace.
        const r = kubectl(['apply', '--dry-run=server', '-f', `${folder}/${file}`]);
        assert.equal(r.code, 0, `${folder}/${file}: ${r.stderr}`);
      }
    }
    const r = kubectl(['apply', '-n', NS, '-f', 'examples/original']);
    assert.equal(r.code, 0, r.stderr);
    const listed = kubectl(['get', 'inference', '-n', NS, '-o', 'name']).stdout.trim().split('\n').sort();
    assert.deepEqual(listed, [
      'inferencecache.production-stack.vllm.ai/llama3-chatbot-cache',
      'inferencegateway.production-stack.vllm.ai/llm-gateway',
      'inferenceservice.production-stack.vllm.ai/llama3-chatbot-service',
      'prefilldecodingdisaggregation.production-stack.vllm.ai/pdd-llama3-chatbot',
      'speculativedecoding.production-stack.vllm.ai/sd-llama3-chatbot',
    ]);
  });

  it('applies API-server defaults from the schema', () => {
    const spec = JSON.parse(
      kubectl(['get', 'infcache', 'llama3-chatbot-cache', '-n', NS, '-o', 'jsonpath={.spec}']).stdout,
    ) as {
      blockSize: number;
      pollInterval: string;
      kvCacheTransferPolicy: { sustainedPolls: number; thresholdHitRate: number };
    };
    assert.equal(spec.blockSize, 16);
    assert.equal(spec.pollInterval, '15s');
    assert.equal(spec.kvCacheTransferPolicy.sustainedPolls, 3);
    assert.equal(spec.kvCacheTransferPolicy.thresholdHitRate, 0.8);
  });

  it('rejects a schema violation with a message naming the field', () => {
    const r = apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'bad-threshold' },
      spec: { modelName: 'm', nlpFilters: { semanticCache: { storeRef: 'redis', threshold: 1.5 } } },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.nlpFilters\.semanticCache\.threshold: Invalid value: 1\.5/);
  });

  it('rejects a CEL rule violation with its message and field', () => {
    const r = apply({
      apiVersion: API,
      kind: 'SpeculativeDecoding',
      metadata: { name: 'same-models' },
      spec: { draftModel: 'llama3-70b', targetModel: 'llama3-70b' },
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /spec\.draftModel: Invalid value: "object": draftModel must differ from targetModel/,
    );
  });

  it('rejects duplicate route models and unknown fields', () => {
    const dup = apply({
      apiVersion: API,
      kind: 'InferenceGateway',
      metadata: { name: 'dup' },
      spec: {
        routes: [
          { model: 'a', inferenceServiceRef: 'x' },
          { model: 'a', inferenceServiceRef: 'z' },
        ],
      },
    });
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /spec\.routes\[1\]: Duplicate value/);
    const typo = apply({
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'typo' },
      spec: { modelName: 'm', kvCacheTransferPolicy: { tresholdHitRate: 0.5 } },
    });
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /unknown field "spec\.kvCacheTransferPolicy\.tresholdHitRate"/);
  });

  it('schedules a GPU Deployment with the PDD topology onto a matching kwok node, Ready', async () => {
    assert.equal(apply(gpuDeployment('a100-rack1', 2)).code, 0);
    const node = await eventually('pod Ready', () => {
      const r = kubectl([
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app=a100-rack1',
        '-o',
        'jsonpath={.items[0].spec.nodeName} {.items[0].status.conditions[?(@.type=="Ready")].status} {.items[0].status.phase}',
      ]);
      const [nodeName, ready, phase] = r.stdout.trim().split(' ');
      return ready === 'True' && phase === 'Running' ? nodeName : undefined;
    });
    const labels = kubectl([
      'get',
      'node',
      node as string,
      '-o',
      'jsonpath={.metadata.labels.nvidia\\.com/gpu\\.product} {.metadata.labels.topology\\.kubernetes\\.io/zone}',
    ]).stdout;
    assert.equal(labels, 'NVIDIA-A100 rack1');
    const available = kubectl(['rollout', 'status', 'deployment/a100-rack1', '-n', NS, '--timeout=60s']);
    assert.equal(available.code, 0, available.stderr);
  });

  it('leaves a pod asking for 16 GPUs Pending with a FailedScheduling event', async () => {
    assert.equal(apply(gpuDeployment('too-many-gpus', 16)).code, 0);
    const message = await eventually('FailedScheduling event', () => {
      const r = kubectl([
        'get',
        'events',
        '-n',
        NS,
        '--field-selector',
        'reason=FailedScheduling',
        '-o',
        'jsonpath={range .items[*]}{.involvedObject.name}: {.message}{"\\n"}{end}',
      ]);
      return r.stdout.split('\n').find((l) => l.startsWith('too-many-gpus-'));
    });
    assert.match(message, /Insufficient nvidia\.com\/gpu/);
    const phase = kubectl([
      'get',
      'pods',
      '-n',
      NS,
      '-l',
      'app=too-many-gpus',
      '-o',
      'jsonpath={.items[0].status.phase}',
    ]).stdout;
    assert.equal(phase, 'Pending');
  });

  it('counts a repeated Event on the first one, and starts a new one when that one is gone', async () => {
    const ref = { apiVersion: API, kind: 'InferenceCache', namespace: NS, name: 'repeats' };
    const events = () =>
      (
        JSON.parse(
          kubectl([
            'get',
            'events',
            '-n',
            NS,
            '--field-selector',
            'involvedObject.name=repeats',
            '-o',
            'json',
          ]).stdout,
        ) as {
          items: {
            metadata: { name: string };
            message: string;
            count: number;
            firstTimestamp: string;
            lastTimestamp: string;
          }[];
        }
      ).items.sort((a, b) => a.message.localeCompare(b.message) || a.count - b.count);
    for (let i = 0; i < 3; i++)
      await recordEvent(kube, ref, 'Warning', 'EvictionFailed', 'replica r0: refused');
    await recordEvent(kube, ref, 'Warning', 'EvictionFailed', 'replica r1: refused');
    const [r0, r1, ...more] = events();
    assert.deepEqual(more, []);
    assert.equal(r0?.message, 'replica r0: refused');
    assert.equal(r0?.count, 3);
    assert.ok(r0.lastTimestamp >= r0.firstTimestamp, JSON.stringify(r0));
    assert.equal(r1?.count, 1);
    // The API server dropped the first (its event TTL, or a delete): the next repeat is a new Event.
    assert.equal(kubectl(['delete', 'event', '-n', NS, r0.metadata.name]).code, 0);
    await recordEvent(kube, ref, 'Warning', 'EvictionFailed', 'replica r0: refused');
    const after = events();
    assert.equal(after.length, 2);
    assert.equal(after[0]?.count, 1);
    assert.notEqual(after[0]?.metadata.name, r0.metadata.name);
  });

  describe('the Kubernetes replica runtime', () => {
    let runtime: KubernetesRuntime;
    let uid: string;
    const heartbeats: unknown[] = [];
    const sleeps: number[] = [];
    const hooks: RolloutHooks = {
      heartbeat: (details) => heartbeats.push(details),
      sleep: (ms) => {
        sleeps.push(ms);
        return new Promise((r) => setTimeout(r, ms));
      },
    };
    before(() => {
      // The owner must exist, or the garbage collector deletes what the runtime applies. Its cache reference
      // does not resolve, so a controller of another test that sees it only reports InvalidSpec.
      const owner = {
        apiVersion: API,
        kind: 'InferenceService',
        metadata: { name: 'rt' },
        spec: { modelName: 'rt-model', inferenceCacheRef: 'absent-cache' },
      };
      assert.equal(apply(owner).code, 0);
      uid = kubectl(['get', 'inferenceservice', 'rt', '-n', NS, '-o', 'jsonpath={.metadata.uid}']).stdout;
      runtime = new KubernetesRuntime(kube, serviceEvents(kube), { pollMs: 250 });
    });

    it('applies a revision, waits until it is available, observes its pod and records the Events', async () => {
      const plan = runtimePlan(uid, 1, 'd1');
      assert.deepEqual(await runtime.apply(plan, 1), {
        applied: ['Deployment/rt-backend', 'Service/rt-backend'],
        deleted: [],
      });
      const outcome = await runtime.awaitReady(plan, 1, 60_000, hooks);
      assert.deepEqual(outcome, { ok: true, message: 'revision 1 is available' });
      const observed = await runtime.observe(plan);
      assert.deepEqual([observed.replicas, observed.readyReplicas], [1, 1]);
      const [endpoint] = observed.endpoints;
      assert.match(endpoint!.name, /^rt-backend-/);
      assert.match(endpoint!.url, /^http:\/\/[\d.]+:8000$/);
      assert.equal(endpoint!.role, 'both');
      assert.ok(endpoint!.zone, 'the zone of the kwok node');
      // The worker's pod cache gives the same observation from memory: no LIST of pods, no GET of the node.
      const pods = await PodCache.start(kube, { namespace: NS, log: () => {} });
      try {
        const cached = await eventually('the ready pod in the cache', () =>
          pods.podsOf(NS, 'rt')?.length === 1 ? pods.podsOf(NS, 'rt') : undefined,
        );
        assert.equal(cached[0]?.metadata.name, endpoint!.name);
        assert.equal(pods.podsOf('another-namespace', 'rt'), undefined, 'a namespace it does not watch');
        const counting = new CountingKube(kube.kc);
        const viaCache = new KubernetesRuntime(counting, serviceEvents(counting), { pods });
        assert.deepEqual(await viaCache.observe(plan), observed);
        assert.equal(await viaCache.observe(plan).then(() => counting.reads), 1, 'only the first node read');
      } finally {
        await pods.stop();
      }
      const reasons = await eventually('Applied and RolloutComplete Events', () => {
        const r = eventReasons();
        return r.includes('Applied') && r.includes('RolloutComplete') ? r : undefined;
      });
      assert.ok(reasons.includes('Applied'));
    });

    it('fails a revision whose pod cannot be scheduled and records RolloutFailed', async () => {
      const plan = runtimePlan(uid, 16, 'd2');
      await runtime.apply(plan, 2);
      sleeps.length = 0;
      const outcome = await runtime.awaitReady(plan, 2, 60_000, hooks);
      assert.equal(outcome.ok, false);
      // The first poll comes quickly (200 ms), the next ones at the runtime's interval (250 ms here).
      assert.equal(sleeps[0], 200);
      assert.ok(sleeps.length > 10 && sleeps.slice(1).every((ms) => ms === 250), sleeps.join(','));
      // Waiting out the scheduler's grace period, the rollout heartbeats what it waits for.
      assert.match(
        JSON.stringify(heartbeats.at(-1)),
        /^\{"pending":\["rt-backend: \d\/1 available, \d updated"\]\}$/,
      );
      assert.match(
        outcome.message,
        /^revision 2 cannot be scheduled: pod rt-backend-\S+: .*Insufficient nvidia\.com\/gpu/,
      );
      await eventually('a RolloutFailed Event', () =>
        eventReasons().includes('RolloutFailed') ? true : undefined,
      );
    });

    it('deletes the Deployment and the Service the InferenceService owns', async () => {
      assert.deepEqual(await runtime.deleteOwned(NS, 'rt'), ['Deployment/rt-backend', 'Service/rt-backend']);
      assert.deepEqual(await runtime.deleteOwned(NS, 'rt'), []);
    });
  });
});
