import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { binary } from '../../src/tools/components.ts';
import { components, releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  infctlFor,
  startController,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-engine-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
const engine: EngineProcess[] = [];

const json = <T>(args: string[]): T => JSON.parse(kubectl([...args, '-n', NS, '-o', 'json']).stdout) as T;
const apply = (doc: object) => {
  const r = kubectl(['apply', '-n', NS, '-f', '-'], stringify(doc));
  assert.equal(r.code, 0, r.stderr);
};
const infctl = (...args: string[]) => infctlFor(env)(...args);
/** A merge patch of one resource in the test namespace; answers kubectl's exit code. */
const patchSpec = (kind: string, name: string, patch: string) =>
  kubectl(['patch', kind, name, '-n', NS, '--type=merge', '-p', patch]).code;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Resource {
  metadata: { generation: number; name: string; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[]; [key: string]: unknown };
}
interface Deployment {
  metadata: { name: string; annotations: Record<string, string> };
  spec: {
    replicas: number;
    template: {
      spec: {
        nodeSelector?: Record<string, string>;
        containers: { command: string[]; resources: { limits?: Record<string, string> } }[];
      };
    };
  };
  status: { availableReplicas?: number };
}

const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);
const get = (kind: string, name: string) => {
  const r = kubectl(['get', kind, name, '-n', NS, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Resource) : undefined;
};
const ready = (kind: string, name: string) => {
  const r = get(kind, name);
  return condition(r, 'Ready')?.status === 'True' && r?.status?.observedGeneration === r?.metadata.generation
    ? r
    : undefined;
};
const deployment = (name: string) => {
  const r = kubectl(['get', 'deployment', name, '-n', NS, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Deployment) : undefined;
};

describe('the durable reconcile engine on the local cluster', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    engine.push(await startWorker(env), await startController(env));
  });
  after(async () => {
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    for (const p of engine) await p.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('rolls out the five original examples: TP, SD and P/D flags, pods on matching kwok nodes, status Ready', async () => {
    const started = Date.now();
    assert.equal(kubectl(['apply', '-n', NS, '-f', 'examples/original']).code, 0);
    for (const [kind, name] of [
      ['inferenceservice', 'llama3-chatbot-service'],
      ['inferencecache', 'llama3-chatbot-cache'],
      ['speculativedecoding', 'sd-llama3-chatbot'],
      ['prefilldecodingdisaggregation', 'pdd-llama3-chatbot'],
    ] as const) {
      await eventually(`${kind}/${name} Ready`, () => ready(kind, name), 90_000);
    }
    console.log(`# four resources Ready ${((Date.now() - started) / 1000).toFixed(1)}s after apply`);

    for (const role of ['prefill', 'decode']) {
      const d = deployment(`chatbot-service-backend-${role}`);
      assert.ok(d, `Deployment chatbot-service-backend-${role}`);
      const pod = d.spec.template.spec;
      const command = pod.containers[0]?.command.join(' ') ?? '';
      assert.match(command, /^vllm serve llama3-70b /);
      assert.match(command, /--tensor-parallel-size 1/);
      assert.match(
        command,
        /--speculative-config \{"method":"draft_model","num_speculative_tokens":5,"model":"llama3-1b","draft_tensor_parallel_size":1\}/,
      );
      assert.match(command, /--kv-transfer-config \{"kv_connector":"NixlConnector","kv_role":"kv_both"\}/);
      assert.match(command, /--enable-prefix-caching --block-size 16/);
      assert.deepEqual(pod.nodeSelector, {
        'nvidia.com/gpu.product': 'NVIDIA-A100',
        'topology.kubernetes.io/zone': 'rack1',
      });
      assert.equal(pod.containers[0]?.resources.limits?.['nvidia.com/gpu'], '1');
    }
    const pods = json<{
      items: { metadata: { name: string }; spec: { nodeName: string }; status: { phase: string } }[];
    }>(['get', 'pods', '-l', 'production-stack.vllm.ai/inference-service=llama3-chatbot-service']);
    assert.equal(pods.items.length, 2);
    for (const p of pods.items) {
      assert.equal(p.status.phase, 'Running');
      const labels = JSON.parse(
        kubectl(['get', 'node', p.spec.nodeName, '-o', 'jsonpath={.metadata.labels}']).stdout,
      ) as Record<string, string>;
      assert.equal(labels['nvidia.com/gpu.product'], 'NVIDIA-A100');
      assert.equal(labels['topology.kubernetes.io/zone'], 'rack1');
    }
    const pdd = await eventually('PDD pairs', () => {
      const r = get('prefilldecodingdisaggregation', 'pdd-llama3-chatbot');
      return r?.status?.prefillPod ? r : undefined;
    });
    const names = pods.items.map((p) => p.metadata.name);
    assert.ok(
      names.includes(pdd.status?.prefillPod as string),
      `prefillPod ${pdd.status?.prefillPod} is a real pod`,
    );
    assert.ok(
      names.includes(pdd.status?.decodeTargetPod as string),
      `decodeTargetPod ${pdd.status?.decodeTargetPod} is a real pod`,
    );
    assert.match(pdd.status?.prefillPod as string, /prefill/);
    assert.match(pdd.status?.decodeTargetPod as string, /decode/);
  });

  it("reports the original gateway's mistral3 route not ready: mistral-agent-service does not exist", async () => {
    const gw = await eventually(
      'gateway routes resolved',
      () => {
        const r = get('inferencegateway', 'llm-gateway');
        return (r?.status?.routes as unknown[] | undefined)?.length === 2 && r?.status?.readyRoutes === '1/2'
          ? r
          : undefined;
      },
      60_000,
    );
    const routes = gw.status?.routes as { model: string; ready: boolean; reason?: string }[];
    assert.deepEqual(
      routes.map((r) => [r.model, r.ready]),
      [
        ['llama3-70b', true],
        ['mistral3', false],
      ],
    );
    assert.match(routes[1]?.reason ?? '', /InferenceService "mistral-agent-service" not found/);
    assert.equal(condition(gw, 'Ready')?.status, 'False');
  });

  it('rolls the service out again when numSpeculativeTokens changes, and shows the steps in its history', async () => {
    assert.equal(
      patchSpec('speculativedecoding', 'sd-llama3-chatbot', '{"spec":{"numSpeculativeTokens":3}}'),
      0,
    );
    await eventually(
      'decode Deployment with the new flag',
      () => {
        const d = deployment('chatbot-service-backend-decode');
        return d?.spec.template.spec.containers[0]?.command
          .join(' ')
          .includes('"num_speculative_tokens":3') &&
          d.metadata.annotations['production-stack.vllm.ai/revision'] === '2'
          ? d
          : undefined;
      },
      60_000,
    );
    const svc = await eventually(
      'revision 2 Ready',
      () => {
        const r = ready('inferenceservice', 'llama3-chatbot-service');
        return r?.status?.lastGoodRevision === 2 ? r : undefined;
      },
      60_000,
    );
    assert.equal(condition(svc, 'Ready')?.reason, 'RolloutComplete');
    const history = infctl('history', `InferenceService/${NS}/llama3-chatbot-service`);
    assert.equal(history.code, 0, history.err);
    const steps = history.out
      .split('\n')
      .map((l) => /^\S+ \S+\s+(\w+)\s+\d+ ms/.exec(l)?.[1])
      .filter(Boolean);
    const second = steps.lastIndexOf('applyDeployment');
    assert.deepEqual(steps.slice(second - 3, second + 4), [
      'resolveServiceInputs',
      'renderVllmArgs',
      'writeStatus',
      'applyDeployment',
      'awaitRollout',
      'observeEndpoints',
      'writeStatus',
    ]);
    assert.match(
      history.out,
      /signal dependencyChanged \(\{"kind":"SpeculativeDecoding","name":"sd-llama3-chatbot"\}\)/,
    );
    assert.match(history.out, /awaitRollout\s+\d+ ms\s+ok: revision 2 is available/);
  });

  it('ends Degraded with a clear message when a change cannot roll out, and the previous revision keeps serving', async () => {
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'solo' },
      spec: { modelName: 'solo-model', runtime: { rolloutTimeout: '2m' } },
    });
    await eventually('solo Ready', () => ready('inferenceservice', 'solo'), 60_000);
    assert.equal(patchSpec('inferenceservice', 'solo', '{"spec":{"runtime":{"tensorParallelSize":16}}}'), 0);
    const svc = await eventually(
      'solo Degraded',
      () => {
        const r = get('inferenceservice', 'solo');
        return condition(r, 'Degraded')?.status === 'True' && r?.status?.observedGeneration === 2
          ? r
          : undefined;
      },
      90_000,
    );
    const degraded = condition(svc, 'Degraded') as Condition;
    assert.equal(degraded.reason, 'RolloutFailed');
    assert.match(
      degraded.message,
      /revision 2 cannot be scheduled: pod solo-\S+: 0\/\d+ nodes are available: \d+ Insufficient nvidia\.com\/gpu/,
    );
    assert.match(degraded.message, /rolled back to revision 1, which is serving/);
    assert.equal(condition(svc, 'Ready')?.status, 'True');
    assert.equal(condition(svc, 'Ready')?.reason, 'PreviousRevisionServing');
    const d = await eventually('solo back on revision 1', () => {
      const x = deployment('solo');
      return x?.metadata.annotations['production-stack.vllm.ai/revision'] === '1' &&
        x.status.availableReplicas === 1
        ? x
        : undefined;
    });
    assert.equal(d.spec.template.spec.containers[0]?.resources.limits?.['nvidia.com/gpu'], '1');
    const pods = json<{ items: { status: { phase: string } }[] }>([
      'get',
      'pods',
      '-l',
      'production-stack.vllm.ai/inference-service=solo',
    ]);
    assert.deepEqual(
      pods.items.map((p) => p.status.phase),
      ['Running'],
    );
  });

  it('reports InvalidSpec naming a missing reference and recovers by itself when it appears', async () => {
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'orphan' },
      spec: { modelName: 'orphan-model', inferenceCacheRef: 'late-cache' },
    });
    const invalid = await eventually(
      'orphan InvalidSpec',
      () => {
        const r = get('inferenceservice', 'orphan');
        return condition(r, 'InvalidSpec')?.status === 'True' ? r : undefined;
      },
      60_000,
    );
    assert.match(
      condition(invalid, 'InvalidSpec')?.message ?? '',
      /spec\.inferenceCacheRef: InferenceCache "late-cache" not found/,
    );
    assert.equal(condition(invalid, 'Ready')?.status, 'False');
    assert.equal(deployment('orphan'), undefined);
    apply({
      apiVersion: API,
      kind: 'InferenceCache',
      metadata: { name: 'late-cache' },
      spec: { modelName: 'orphan-model', blockSize: 32 },
    });
    const recovered = await eventually('orphan Ready', () => ready('inferenceservice', 'orphan'), 60_000);
    assert.equal(condition(recovered, 'InvalidSpec')?.status, 'False');
    assert.match(
      deployment('orphan')?.spec.template.spec.containers[0]?.command.join(' ') ?? '',
      /--block-size 32/,
    );
  });

  it('marks a spec the CRD schema cannot fully check (a regex that does not compile) InvalidSpec, naming the field', async () => {
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'bad-regex' },
      spec: {
        modelName: 'bad-regex-model',
        nlpFilters: { promptGuard: { blockedPatterns: ['SSN', 'regex:([a-z'] } },
      },
    });
    const invalid = await eventually(
      'bad-regex InvalidSpec',
      () => {
        const r = get('inferenceservice', 'bad-regex');
        return condition(r, 'InvalidSpec')?.status === 'True' ? r : undefined;
      },
      60_000,
    );
    assert.equal(condition(invalid, 'InvalidSpec')?.reason, 'SpecInvalid');
    assert.match(
      condition(invalid, 'InvalidSpec')?.message ?? '',
      /spec\.nlpFilters\.promptGuard\.blockedPatterns\[1\]: regular expression does not compile/,
    );
    assert.equal(deployment('bad-regex'), undefined);
  });

  it('pauses reconciliation with infctl pause and applies the waiting change on resume', async () => {
    const ref = `InferenceService/${NS}/solo`;
    const paused = infctl('pause', ref, 'maintenance window');
    assert.equal(paused.code, 0, paused.err);
    assert.match(paused.out, /paused\s+yes \(maintenance window\)/);
    assert.equal(patchSpec('inferenceservice', 'solo', '{"spec":{"runtime":{"tensorParallelSize":2}}}'), 0);
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(
      deployment('solo')?.spec.template.spec.containers[0]?.resources.limits?.['nvidia.com/gpu'],
      '1',
      'a paused resource does not roll out',
    );
    const resumed = infctl('resume', ref);
    assert.equal(resumed.code, 0, resumed.err);
    await eventually(
      'solo on TP 2',
      () => {
        const d = deployment('solo');
        return d?.spec.template.spec.containers[0]?.resources.limits?.['nvidia.com/gpu'] === '2' &&
          d.status.availableReplicas === 1
          ? d
          : undefined;
      },
      60_000,
    );
  });

  it('pauses and resumes with signals sent by the temporal CLI', async () => {
    const temporalBin = binary(components('temporal'), 'temporal');
    const signal = (name: string) => {
      const r = spawnSync(
        temporalBin,
        [
          'workflow',
          'signal',
          '--address',
          env.temporalAddress,
          '--workflow-id',
          `InferenceService/${NS}/solo`,
          '--name',
          name,
          '--input',
          '{}',
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
    };
    signal('pause');
    await eventually(
      'paused',
      () => (/paused\s+yes/.test(infctl('status', `InferenceService/${NS}/solo`).out) ? true : undefined),
      20_000,
    );
    assert.equal(patchSpec('inferenceservice', 'solo', '{"spec":{"runtime":{"replicas":2}}}'), 0);
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(deployment('solo')?.spec.replicas, 1, 'a paused resource does not roll out');
    signal('resume');
    await eventually(
      'solo on 2 replicas',
      () => (deployment('solo')?.status.availableReplicas === 2 ? true : undefined),
      60_000,
    );
    const malformed = spawnSync(
      temporalBin,
      [
        'workflow',
        'signal',
        '--address',
        env.temporalAddress,
        '--workflow-id',
        `InferenceService/${NS}/solo`,
        '--name',
        'rollback',
        '--input',
        '"yesterday"',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(malformed.status, 0, malformed.stderr);
    const status = await eventually(
      'malformed signal recorded',
      () => {
        const out = infctl('status', `InferenceService/${NS}/solo`).out;
        return /ignored signals:[\s\S]*rollback: "yesterday"/.test(out) ? out : undefined;
      },
      20_000,
    );
    assert.match(status, /phase\s+Ready/);
  });

  it('rejects an invalid rollback update with an answer, and rolls back to a known revision', async () => {
    const bad = infctl('rollback', `InferenceService/${NS}/solo`, '99');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /revision 99 is not one this resource can roll back to/);
    const ok = infctl('rollback', `InferenceService/${NS}/solo`, '1');
    assert.equal(ok.code, 0, ok.err);
    await eventually(
      'solo back on revision 1',
      () => {
        const d = deployment('solo');
        return d?.metadata.annotations['production-stack.vllm.ai/revision'] === '1' && d.spec.replicas === 1
          ? d
          : undefined;
      },
      60_000,
    );
  });

  it('starts no duplicate work when two controllers run at once', async () => {
    engine.push(await startController(env));
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'twin' },
      spec: { modelName: 'twin-model' },
    });
    await eventually('twin Ready', () => ready('inferenceservice', 'twin'), 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const runs: string[] = [];
    for await (const wf of temporal.workflow.list({ query: `WorkflowId = "InferenceService/${NS}/twin"` }))
      runs.push(wf.runId);
    assert.equal(runs.length, 1, 'one workflow run');
    const history = infctl('history', `InferenceService/${NS}/twin`).out;
    assert.equal(history.match(/ applyDeployment /g)?.length, 1, history);
    // Both controllers deliver generation 1; the workflow acts on it once.
    assert.ok((history.match(/signal spec \(generation 1\)/g)?.length ?? 0) >= 1, history);
    assert.equal(history.match(/ resolveServiceInputs /g)?.length, 1, history);
  });

  it('deleting a resource removes what it owns, its finalizer, and completes its workflow', async () => {
    assert.deepEqual(get('inferenceservice', 'twin')?.metadata.finalizers, [
      'production-stack.vllm.ai/finalizer',
    ]);
    assert.equal(
      kubectl(['delete', 'inferenceservice', 'twin', '-n', NS, '--wait=true', '--timeout=60s']).code,
      0,
    );
    assert.equal(get('inferenceservice', 'twin'), undefined);
    assert.equal(deployment('twin'), undefined);
    assert.equal(kubectl(['get', 'service', 'twin', '-n', NS]).code, 1);
    const description = await temporal.workflow.getHandle(`InferenceService/${NS}/twin`).describe();
    assert.equal(description.status.name, 'COMPLETED');
  });
});
