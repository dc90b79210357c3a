import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { stateQuery } from '../../src/workflows/messages.ts';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  infctlAsyncFor,
  infctlFor,
  startController,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-crash-${process.pid}`;
const LATE_NODE = `kwok-late-${process.pid}`;
const OUTAGE_NODE = `kwok-outage-${process.pid}`;
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let worker: EngineProcess;
let controller: EngineProcess;

const infctl = (...args: string[]) => infctlFor(env)(...args);
/** Restarts under way (`infctl dev restart --down-for`); `after` waits for them, so nothing is left stopped. */
const restarts: Promise<unknown>[] = [];
const infctlAsync = (...args: string[]) => {
  const run = infctlAsyncFor(env)(...args);
  restarts.push(run);
  return run;
};

/** Waits until the workflow's only pending activity is `name` (the rollout is under way, not finished). */
async function waitForPendingActivity(handle: WorkflowHandle, name: string): Promise<void> {
  const pending = async () =>
    ((await handle.describe().catch(() => undefined))?.raw.pendingActivities ?? []).map(
      (a) => a.activityType?.name,
    );
  await until(`${name} pending`, async () => ((await pending()).join() === name ? true : undefined), 60_000);
}
const items = (kind: string, selector: string) =>
  (
    JSON.parse(kubectl(['get', kind, '-n', NS, '-l', selector, '-o', 'json']).stdout) as {
      items: { metadata: { name: string }; status?: Record<string, unknown> }[];
    }
  ).items;
const serviceStatus = (name = 'crashy') =>
  JSON.parse(
    kubectl(['get', 'inferenceservice', name, '-n', NS, '-o', 'jsonpath={.status}']).stdout || '{}',
  ) as {
    conditions?: { type: string; status: string }[];
    lastGoodRevision?: number;
    readyReplicas?: number;
  };

/** A kwok GPU node; a pod pinned to a node that does not exist yet waits in awaitRollout until it is created. */
const gpuNode = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name,
    annotations: { 'kwok.x-k8s.io/node': 'fake' },
    labels: {
      'kubernetes.io/hostname': name,
      type: 'kwok',
      'nvidia.com/gpu.product': 'NVIDIA-A100',
      'topology.kubernetes.io/zone': 'rack3',
    },
  },
  status: {
    allocatable: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
    capacity: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
  },
});

const pinnedService = (name: string, node: string, tolerations: object[] = []) => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceService',
  metadata: { name },
  spec: {
    modelName: `${name}-model`,
    runtime: { podTemplate: { spec: { nodeSelector: { 'kubernetes.io/hostname': node }, tolerations } } },
  },
});
/** After an API server outage the node controller briefly taints nodes whose heartbeats it missed. */
const TOLERATE_NOT_READY = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
  key,
  operator: 'Exists',
}));

/** No duplicate objects: one Deployment, one ReplicaSet, one pod of the service. */
function assertOneOfEach(name: string): void {
  assert.equal(items('deployments', `production-stack.vllm.ai/inference-service=${name}`).length, 1);
  assert.equal(items('replicasets', `app.kubernetes.io/instance=${name}`).length, 1);
  assert.equal(items('pods', `production-stack.vllm.ai/inference-service=${name}`).length, 1);
}

/** A spec change still rolls out: two replicas of `name` become ready. */
async function scalesToTwo(name: string): Promise<void> {
  const patch = ['patch', 'inferenceservice', name, '-n', NS, '--type=merge', '-p'];
  assert.equal(kubectl([...patch, '{"spec":{"runtime":{"replicas":2}}}']).code, 0);
  await eventually(
    `two ready ${name} replicas`,
    () => (serviceStatus(name).readyReplicas === 2 ? true : undefined),
    120_000,
  );
}

describe('crashes lose nothing', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    worker = await startWorker(env);
    controller = await startController(env);
  });
  after(async () => {
    await Promise.allSettled(restarts);
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    kubectl(['delete', 'node', LATE_NODE, OUTAGE_NODE, '--wait=false']);
    await worker?.kill();
    await controller?.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('the API server SIGKILLed for 20 s during a rollout: the same run waits, shows the wait and converges', async () => {
    // With the controller-manager stopped the Deployment gets no pods, so the rollout is still waiting when the
    // API server goes down (and no pod is left unschedulable meanwhile); it comes back after the API server.
    const manager = env.pids['kube-controller-manager'] as number;
    const noPods = infctlAsync('dev', 'restart', 'kube-controller-manager', '--kill', '--down-for', '40s');
    await until(
      'the controller-manager stopped',
      async () => {
        try {
          process.kill(manager, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      20_000,
    );
    assert.equal(
      kubectl(
        ['apply', '-n', NS, '-f', '-'],
        stringify(pinnedService('outage', OUTAGE_NODE, TOLERATE_NOT_READY)),
      ).code,
      0,
    );
    assert.equal(kubectl(['apply', '-f', '-'], stringify(gpuNode(OUTAGE_NODE))).code, 0);
    const handle = temporal.workflow.getHandle(`InferenceService/${NS}/outage`);
    await waitForPendingActivity(handle, 'awaitRollout');
    const runId = (await handle.describe()).runId;

    const outage = infctlAsync('dev', 'restart', 'kube-apiserver', '--kill', '--down-for', '20s');
    // While the API server is down the workflow says what it waits for (its phase is also a search attribute).
    const waiting = await until(
      'the workflow waiting for the API server',
      async () => {
        const snapshot = await handle.query(stateQuery).catch(() => undefined);
        return snapshot?.phase === 'WaitingForAPIServer' ? snapshot : undefined;
      },
      60_000,
    );
    assert.equal(waiting.waiting?.type, 'KubernetesUnavailable');
    assert.match(waiting.message ?? '', /awaitRollout: .*unreachable/);
    const restarted = await outage;
    assert.equal(restarted.code, 0, restarted.err);
    const pods = await noPods;
    assert.equal(pods.code, 0, pods.err);
    await eventually(
      'outage Ready on revision 1',
      () => {
        const s = serviceStatus('outage');
        return s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          s.lastGoodRevision === 1
          ? s
          : undefined;
      },
      120_000,
    );
    const described = await handle.describe();
    assert.equal(described.runId, runId, 'the same run converged');
    assert.equal(described.status.name, 'RUNNING');
    const snapshot = await handle.query(stateQuery);
    assert.deepEqual(snapshot.details.revisions, [1], 'the revision history is intact');
    assert.equal(snapshot.waiting, undefined);
    assertOneOfEach('outage');
    // The wait is on the resource afterwards, as an Event kubectl describe shows.
    const events = kubectl([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      'involvedObject.name=outage,reason=WaitedForAPIServer',
      '-o',
      'name',
    ]);
    assert.equal(events.stdout.trim().split('\n').filter(Boolean).length, 1, events.stdout + events.stderr);
    // In the history: the failed attempts and the timers between the rounds, and one applyDeployment.
    const history = infctl('history', `InferenceService/${NS}/outage`).out;
    assert.equal(history.match(/ applyDeployment /g)?.length, 1, history);
    assert.match(history, /awaitRollout\s+\d+ ms\s+ok: revision 1 is available/);
    const events2 = (await handle.fetchHistory()).events ?? [];
    assert.ok(
      events2.some((e) => e.activityTaskFailedEventAttributes),
      'a failed attempt is in the history',
    );
    assert.ok(events2.filter((e) => e.timerStartedEventAttributes).length >= 1, 'the waits are timers');
    // The controller's informers came back with a growing backoff, and it still signals changes.
    assert.match(controller.output(), /restarting in 4000 ms/);
    await scalesToTwo('outage');
    // Deleting it completes: the workflow tears down what it owns, releases the finalizer and ends.
    const deleted = kubectl(['delete', 'inferenceservice', 'outage', '-n', NS, '--timeout=30s']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(items('deployments', 'production-stack.vllm.ai/inference-service=outage').length, 0);
    await until(
      'the outage workflow completed',
      async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined),
      10_000,
    );
  });

  it('a worker killed with SIGKILL in the middle of a rollout finishes it after restart, with no duplicated objects', async () => {
    // The pods can only run on a node that does not exist yet, so the rollout waits in awaitRollout.
    assert.equal(
      kubectl(['apply', '-n', NS, '-f', '-'], stringify(pinnedService('crashy', LATE_NODE))).code,
      0,
    );
    await eventually(
      'a pending pod of revision 1',
      () =>
        items('pods', 'production-stack.vllm.ai/inference-service=crashy').length === 1 ? true : undefined,
      60_000,
    );
    const handle = temporal.workflow.getHandle(`InferenceService/${NS}/crashy`);
    await waitForPendingActivity(handle, 'awaitRollout');

    await worker.kill('SIGKILL');
    assert.equal(kubectl(['apply', '-f', '-'], stringify(gpuNode(LATE_NODE))).code, 0);
    worker = await startWorker(env);

    await eventually(
      'crashy Ready on revision 1',
      () => {
        const s = serviceStatus();
        return s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          s.lastGoodRevision === 1
          ? s
          : undefined;
      },
      120_000,
    );
    assertOneOfEach('crashy');
    assert.equal(
      kubectl([
        'get',
        'services',
        '-n',
        NS,
        '-l',
        'production-stack.vllm.ai/inference-service=crashy',
        '-o',
        'name',
      ]).stdout.trim(),
      'service/crashy',
    );
    const history = infctl('history', `InferenceService/${NS}/crashy`).out;
    assert.equal(history.match(/ applyDeployment /g)?.length, 1, history);
    assert.match(history, /awaitRollout\s+\d+ ms\s+ok: revision 1 is available/);
  });

  it('restarting the Temporal dev server on the same database file loses no workflow', async () => {
    const list = async () => {
      const out: string[] = [];
      for await (const wf of temporal.workflow.list({
        query: `CrNamespace = "${NS}" AND CrName = "crashy" AND ExecutionStatus = "Running"`,
      }))
        out.push(wf.workflowId);
      return out.sort();
    };
    const before = await list();
    assert.deepEqual(before, [`InferenceService/${NS}/crashy`]);
    const restarted = infctl('dev', 'restart', 'temporal');
    assert.equal(restarted.code, 0, restarted.err);
    let after: string[] = [];
    for (let i = 0; i < 50 && after.length === 0; i++) {
      after = await list().catch(() => []);
      if (after.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(after, before);
    // The worker and the controller reconnect: a change made after the restart still rolls out.
    await scalesToTwo('crashy');
  });
});
