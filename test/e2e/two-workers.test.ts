/**
 * Two workers share one task queue; the one holding more rollouts in flight is SIGKILLed. The other finishes
 * every resource, and nothing is done twice: per InferenceService one Deployment (generation 1), one
 * ReplicaSet, one pod, one `Applied` and one `RolloutComplete` Event, and one applyDeployment in its history;
 * no cache action; one running workflow per resource. The histories say who did what: the killed worker's
 * identity (`pid@host`) is on work before the kill and on nothing after it, its interrupted awaitRollouts were
 * retried (attempt 2) by the survivor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { temporal as api } from '@temporalio/proto';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { startController, startWorker, temporalFor, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-two-workers-${process.pid}`;
const LATE_NODE = `kwok-two-workers-${process.pid}`;
const PAIRS = 6;
const SERVICES = Array.from({ length: PAIRS }, (_, i) => `svc-${i}`);
const CACHES = Array.from({ length: PAIRS }, (_, i) => `cache-${i}`);
const GROUP = 'production-stack.vllm.ai';
// A short sticky timeout, so the workflows cached on the killed worker move to the survivor in seconds.
const WORKER_ENV = { INFCTL_WORKER_STICKY_QUEUE_TIMEOUT: '2s' };

let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let workers: EngineProcess[] = [];
let controller: EngineProcess | undefined;

const identity = (p: EngineProcess) => `${p.child.pid}@`;
const serviceId = (name: string) => `InferenceService/${NS}/${name}`;
const cacheId = (name: string) => `InferenceCache/${NS}/${name}`;

const gpuNode = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name: LATE_NODE,
    annotations: { 'kwok.x-k8s.io/node': 'fake' },
    labels: {
      'kubernetes.io/hostname': LATE_NODE,
      type: 'kwok',
      'nvidia.com/gpu.product': 'NVIDIA-A100',
      'topology.kubernetes.io/zone': 'rack2',
    },
  },
  status: {
    allocatable: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
    capacity: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
  },
};

/** Services whose pods can only run on a node that does not exist yet: their rollouts wait in awaitRollout. */
const resources = SERVICES.flatMap((svc, i) => [
  {
    apiVersion: `${GROUP}/v1alpha1`,
    kind: 'InferenceService',
    metadata: { name: svc, namespace: NS },
    spec: {
      modelName: `model-${i}`,
      inferenceCacheRef: CACHES[i],
      runtime: { podTemplate: { spec: { nodeSelector: { 'kubernetes.io/hostname': LATE_NODE } } } },
    },
  },
  {
    apiVersion: `${GROUP}/v1alpha1`,
    kind: 'InferenceCache',
    metadata: { name: CACHES[i], namespace: NS },
    spec: {
      modelName: `model-${i}`,
      kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 },
    },
  },
]);

const list = <T>(args: string[]) =>
  (JSON.parse(kubectl(['get', ...args, '-n', NS, '-o', 'json']).stdout || '{"items":[]}') as { items: T[] })
    .items;
type Conditioned = {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
};
const ready = (o: Conditioned) =>
  o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The pending activities of a workflow: their type and the worker that last took them. */
async function pending(workflowId: string) {
  const described = await temporal.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  return (described?.raw.pendingActivities ?? []).map((a) => ({
    type: a.activityType?.name ?? '',
    worker: a.lastWorkerIdentity ?? '',
  }));
}

const eventMs = (e: api.api.history.v1.IHistoryEvent) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
const eventIdentity = (e: api.api.history.v1.IHistoryEvent) =>
  e.workflowTaskCompletedEventAttributes?.identity ??
  e.workflowTaskStartedEventAttributes?.identity ??
  e.activityTaskStartedEventAttributes?.identity ??
  e.activityTaskCompletedEventAttributes?.identity ??
  undefined;

/** Activity types by the id of their scheduled event, and what each history did per type. */
function activities(events: api.api.history.v1.IHistoryEvent[]) {
  const types = new Map<string, string>();
  const scheduled = new Map<string, number>();
  const completed = new Map<string, number>();
  const started: { type: string; attempt: number; identity: string }[] = [];
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const type = s.activityType?.name ?? '';
      types.set(String(e.eventId), type);
      scheduled.set(type, (scheduled.get(type) ?? 0) + 1);
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st)
      started.push({
        type: types.get(String(st.scheduledEventId)) ?? '',
        attempt: st.attempt ?? 0,
        identity: st.identity ?? '',
      });
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const type = types.get(String(c.scheduledEventId)) ?? '';
      completed.set(type, (completed.get(type) ?? 0) + 1);
    }
  }
  return { scheduled, completed, started };
}

describe('two workers, one SIGKILLed mid-work', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    workers = await Promise.all([startWorker(env, WORKER_ENV), startWorker(env, WORKER_ENV)]);
    controller = await startController(env);
  });
  after(async () => {
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    kubectl(['delete', 'node', LATE_NODE, '--wait=false']);
    for (const w of workers) await w.kill('SIGKILL');
    await controller?.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('the survivor finishes every resource and nothing is done twice', async () => {
    const applied = kubectl(['apply', '-f', '-'], resources.map((r) => stringify(r)).join('---\n'));
    assert.equal(applied.code, 0, applied.stderr);
    // Every service's rollout is in flight on one worker or the other.
    const inFlight = await until(
      'every rollout waiting in awaitRollout',
      async () => {
        const all = await Promise.all(SERVICES.map((s) => pending(serviceId(s))));
        return all.every((p) => p.length === 1 && p[0]?.type === 'awaitRollout' && p[0].worker)
          ? all.map((p) => p[0]?.worker ?? '')
          : undefined;
      },
      60_000,
    );
    const on = (w: EngineProcess) => inFlight.filter((id) => id.startsWith(identity(w))).length;
    const [victim, survivor] = on(workers[0]!) >= on(workers[1]!) ? workers : [...workers].reverse();
    const interrupted = SERVICES.filter((_, i) => inFlight[i]!.startsWith(identity(victim!)));
    assert.ok(interrupted.length > 0, `rollouts in flight: ${inFlight.join(', ')}`);

    await victim!.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal(kubectl(['apply', '-f', '-'], stringify(gpuNode)).code, 0);

    await eventually(
      `all ${PAIRS} services and ${PAIRS} caches Ready`,
      () => {
        const services = list<Conditioned>(['inferenceservices']).filter(ready).length;
        const caches = list<Conditioned>(['inferencecaches']).filter(ready).length;
        return services === PAIRS && caches === PAIRS ? true : undefined;
      },
      90_000,
    );

    // Kubernetes: one of each object per service, the Deployment applied once (generation 1), one Event each.
    const deployments = list<{ metadata: { name: string; generation: number } }>(['deployments']);
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), [...SERVICES].sort());
    for (const d of deployments) assert.equal(d.metadata.generation, 1, `${d.metadata.name} generation`);
    assert.equal(list(['replicasets']).length, PAIRS);
    assert.equal(list(['pods']).length, PAIRS);
    const events = list<{ involvedObject: { kind: string; name: string }; reason: string; count?: number }>([
      'events',
    ]).filter((e) => e.involvedObject.kind === 'InferenceService');
    for (const svc of SERVICES)
      for (const reason of ['Applied', 'RolloutComplete']) {
        const these = events.filter((e) => e.involvedObject.name === svc && e.reason === reason);
        assert.equal(these.length, 1, `${svc} ${reason} Events: ${JSON.stringify(these)}`);
        assert.equal(these[0]?.count ?? 1, 1, `${svc} ${reason} count`);
      }

    // Temporal: one running workflow per resource; the histories.
    const running: string[] = [];
    for await (const wf of temporal.workflow.list({
      query: `CrNamespace = "${NS}" AND ExecutionStatus = "Running"`,
    }))
      running.push(wf.workflowId);
    assert.deepEqual(running.sort(), [...SERVICES.map(serviceId), ...CACHES.map(cacheId)].sort());

    let victimDid = 0;
    for (const id of [...SERVICES.map(serviceId), ...CACHES.map(cacheId)]) {
      const history = (await temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
      const afterKill = history.filter((e) => eventMs(e) > killedAt + 1000);
      const byVictim = afterKill.filter((e) => eventIdentity(e)?.startsWith(identity(victim!)));
      // An activity the victim started and never finished is recorded when it ends, under the last worker.
      assert.deepEqual(byVictim, [], `${id}: work by the killed worker after the kill`);
      victimDid += history.filter((e) => eventIdentity(e)?.startsWith(identity(victim!))).length;
      const a = activities(history);
      if (id.startsWith('InferenceService/')) {
        assert.equal(a.scheduled.get('applyDeployment'), 1, `${id}: applyDeployment scheduled`);
        assert.equal(a.completed.get('applyDeployment'), 1, `${id}: applyDeployment completed`);
        assert.equal(a.completed.get('awaitRollout'), 1, `${id}: awaitRollout completed`);
      } else {
        for (const action of ['transferCache', 'evictCache'])
          assert.equal(a.scheduled.get(action) ?? 0, 0, `${id}: ${action}`);
      }
      if (interrupted.some((s) => serviceId(s) === id)) {
        const rollout = a.started.filter((s) => s.type === 'awaitRollout');
        assert.equal(rollout.length, 1, `${id}: ${JSON.stringify(rollout)}`);
        assert.ok(
          rollout[0]!.attempt >= 2,
          `${id}: the interrupted rollout was retried: ${JSON.stringify(rollout)}`,
        );
        assert.ok(rollout[0]!.identity.startsWith(identity(survivor!)), `${id}: retried by the survivor`);
      }
    }
    assert.ok(victimDid > 0, 'the killed worker had done work before the kill');
  });
});
