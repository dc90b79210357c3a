import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { startController, startWorker, temporalFor, type EngineProcess } from '../helpers/engine.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-faults-${process.pid}`;
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let worker: EngineProcess;
let controller: EngineProcess;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
const conditions = (name: string): Condition[] =>
  (
    JSON.parse(
      kubectl(['get', 'inferenceservice', name, '-n', NS, '-o', 'jsonpath={.status}']).stdout || '{}',
    ) as { conditions?: Condition[] }
  ).conditions ?? [];
const conditionOf = (name: string, type: string, status = 'True') =>
  conditions(name).find((c) => c.type === type && c.status === status);
const service = (name: string, podTemplate: object) => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceService',
  metadata: { name },
  spec: { modelName: `${name}-model`, runtime: { engine: 'simulator', podTemplate } },
});
const apply = (doc: object) => {
  const r = kubectl(['apply', '-n', NS, '-f', '-'], stringify(doc));
  assert.equal(r.code, 0, r.stderr);
};

/** Runs `kubectl delete` and answers how long it took; it must complete, not hang on the finalizer. */
function timedDelete(name: string): number {
  const started = Date.now();
  const r = kubectl(['delete', 'inferenceservice', name, '-n', NS, '--timeout=30s']);
  assert.equal(r.code, 0, r.stderr);
  return Date.now() - started;
}

const PRIVILEGED = {
  spec: {
    hostNetwork: true,
    volumes: [{ name: 'root', hostPath: { path: '/' } }],
    containers: [{ name: 'engine', securityContext: { privileged: true } }],
  },
};

describe('faults become conditions, never failed workflows', () => {
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
    await worker?.kill();
    await controller?.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('a Deployment the API server rejects is Degraded quoting it, without retries, and deletes in time', async () => {
    // A sidecar without an image: the API server answers 422.
    const started = Date.now();
    apply(service('rejected', { spec: { containers: [{ name: 'sidecar' }] } }));
    const degraded = await eventually('rejected Degraded', () => conditionOf('rejected', 'Degraded'), 30_000);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 30, `Degraded after ${seconds} s`);
    assert.equal(degraded.reason, 'KubernetesRejected');
    assert.match(degraded.message, /containers\[1\]\.image: Required value/);
    assert.equal(conditionOf('rejected', 'Ready', 'False')?.reason, 'KubernetesRejected');

    const handle = temporal.workflow.getHandle(`InferenceService/${NS}/rejected`);
    const events = (await handle.fetchHistory()).events ?? [];
    const applies = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyDeployment',
    );
    const failed = events.filter((e) => e.activityTaskFailedEventAttributes);
    assert.equal(applies.length, 1, 'applyDeployment is scheduled once');
    assert.equal(failed.length, 1, 'and fails once');
    assert.equal(
      failed[0]?.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.nonRetryable,
      true,
    );
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'the workflow keeps running');

    // It reacts to the next spec: the fixed overlay rolls out.
    apply(service('rejected', { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } }));
    await eventually('rejected Ready after the fix', () => conditionOf('rejected', 'Ready'), 60_000);
    assert.equal(conditionOf('rejected', 'Degraded'), undefined);

    apply(service('rejected', { spec: { containers: [{ name: 'sidecar2' }] } }));
    await eventually('rejected Degraded again', () => conditionOf('rejected', 'Degraded'), 30_000);
    const ms = timedDelete('rejected');
    console.log(`rejected: Degraded in ${seconds.toFixed(1)} s, kubectl delete took ${ms} ms`);
  });

  it('a privileged, hostPath, hostNetwork overlay is InvalidSpec naming each field; allowed once the operator allows it', async () => {
    apply(service('privileged', PRIVILEGED));
    const invalid = await eventually(
      'privileged InvalidSpec',
      () => conditionOf('privileged', 'InvalidSpec'),
      30_000,
    );
    assert.equal(invalid.reason, 'SpecInvalid');
    for (const field of [
      'spec.runtime.podTemplate.spec.hostNetwork',
      'spec.runtime.podTemplate.spec.volumes[0].hostPath',
      'spec.runtime.podTemplate.spec.containers[0].securityContext.privileged',
    ])
      assert.ok(invalid.message.includes(`${field}: a pod-template overlay may not grant`), invalid.message);
    assert.match(invalid.message, /INFCTL_POD_TEMPLATE_ALLOW=hostNetwork/);
    assert.equal(
      kubectl([
        'get',
        'deployments',
        '-n',
        NS,
        '-l',
        'production-stack.vllm.ai/inference-service=privileged',
        '-o',
        'name',
      ]).stdout,
      '',
      'no Deployment is created',
    );

    await worker.kill();
    worker = await startWorker(env, { INFCTL_POD_TEMPLATE_ALLOW: 'hostNetwork,hostPath,privileged' });
    // InvalidSpec is rechecked on every tick, so the allowed overlay rolls out without a spec change.
    await eventually('privileged Ready once allowed', () => conditionOf('privileged', 'Ready'), 60_000);
    const pod = JSON.parse(
      kubectl(['get', 'deployment', 'privileged', '-n', NS, '-o', 'jsonpath={.spec.template.spec}']).stdout,
    ) as { hostNetwork?: boolean; containers: { securityContext?: { privileged?: boolean } }[] };
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.containers[0]?.securityContext?.privileged, true);
    timedDelete('privileged');
  });
});
