import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  infctlFor,
  startController,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-crash-${process.pid}`;
const LATE_NODE = `kwok-late-${process.pid}`;
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let worker: EngineProcess;
let controller: EngineProcess;

const infctl = (...args: string[]) => infctlFor(env)(...args);
const items = (kind: string, selector: string) =>
  (
    JSON.parse(kubectl(['get', kind, '-n', NS, '-l', selector, '-o', 'json']).stdout) as {
      items: { metadata: { name: string }; status?: Record<string, unknown> }[];
    }
  ).items;
const serviceStatus = () =>
  JSON.parse(
    kubectl(['get', 'inferenceservice', 'crashy', '-n', NS, '-o', 'jsonpath={.status}']).stdout || '{}',
  ) as {
    conditions?: { type: string; status: string }[];
    lastGoodRevision?: number;
    readyReplicas?: number;
  };

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
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    kubectl(['delete', 'node', LATE_NODE, '--wait=false']);
    await worker?.kill();
    await controller?.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('a worker killed with SIGKILL in the middle of a rollout finishes it after restart, with no duplicated objects', async () => {
    // The pods can only run on a node that does not exist yet, so the rollout waits in awaitRollout.
    const service = {
      apiVersion: 'production-stack.vllm.ai/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'crashy' },
      spec: {
        modelName: 'crashy-model',
        runtime: { podTemplate: { spec: { nodeSelector: { 'kubernetes.io/hostname': LATE_NODE } } } },
      },
    };
    assert.equal(kubectl(['apply', '-n', NS, '-f', '-'], stringify(service)).code, 0);
    await eventually(
      'a pending pod of revision 1',
      () =>
        items('pods', 'production-stack.vllm.ai/inference-service=crashy').length === 1 ? true : undefined,
      60_000,
    );
    const handle = temporal.workflow.getHandle(`InferenceService/${NS}/crashy`);
    let activities: (string | null | undefined)[] = [];
    for (let i = 0; i < 50 && activities[0] !== 'awaitRollout'; i++) {
      activities = ((await handle.describe()).raw.pendingActivities ?? []).map((a) => a.activityType?.name);
      if (activities[0] !== 'awaitRollout') await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(activities, ['awaitRollout'], 'the worker dies while awaiting the rollout');

    await worker.kill('SIGKILL');
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: LATE_NODE,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: {
          'kubernetes.io/hostname': LATE_NODE,
          type: 'kwok',
          'nvidia.com/gpu.product': 'NVIDIA-A100',
          'topology.kubernetes.io/zone': 'rack3',
        },
      },
      status: {
        allocatable: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
        capacity: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' },
      },
    };
    assert.equal(kubectl(['apply', '-f', '-'], stringify(node)).code, 0);
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
    assert.equal(items('deployments', 'production-stack.vllm.ai/inference-service=crashy').length, 1);
    assert.equal(items('replicasets', 'app.kubernetes.io/instance=crashy').length, 1);
    assert.equal(items('pods', 'production-stack.vllm.ai/inference-service=crashy').length, 1);
    assert.equal(kubectl(['get', 'services', '-n', NS, '-o', 'name']).stdout.trim(), 'service/crashy');
    const history = infctl('history', `InferenceService/${NS}/crashy`).out;
    assert.equal(history.match(/ applyDeployment /g)?.length, 1, history);
    assert.match(history, /awaitRollout\s+\d+ ms\s+ok: revision 1 is available/);
  });

  it('restarting the Temporal dev server on the same database file loses no workflow', async () => {
    const list = async () => {
      const out: string[] = [];
      for await (const wf of temporal.workflow.list({
        query: `CrNamespace = "${NS}" AND ExecutionStatus = "Running"`,
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
    assert.equal(
      kubectl([
        'patch',
        'inferenceservice',
        'crashy',
        '-n',
        NS,
        '--type=merge',
        '-p',
        '{"spec":{"runtime":{"replicas":2}}}',
      ]).code,
      0,
    );
    await eventually(
      'two ready replicas',
      () => (serviceStatus().readyReplicas === 2 ? true : undefined),
      120_000,
    );
  });
});
