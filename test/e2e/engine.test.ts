import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { binary } from '../../src/tools/components.ts';
import { components } from '../helpers/components.ts';
import { API, condition, engineSuite, type Condition } from '../helpers/engine-suite.ts';
import { eventually } from '../helpers/kubectl.ts';

const NS = `e2e-engine-${process.pid}`;
const suite = engineSuite(NS);
const { apply, deployment, get, infctl, json, kubectl, patchSpec, ready } = suite;

describe('the durable reconcile engine on the local cluster', () => {
  before(() => suite.setUp());
  after(() => suite.tearDown());

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
      .map((l) => /^\S+ \S+\s+(\w+(?: \(local\))?)\s+\d+ ms/.exec(l)?.[1])
      .filter(Boolean);
    const second = steps.lastIndexOf('applyDeployment');
    assert.deepEqual(steps.slice(second - 3, second + 4), [
      // The reads are local activities (issue 16), listed from their markers; what changes something is not.
      'resolveServiceInputs (local)',
      'renderVllmArgs (local)',
      'writeStatus',
      'applyDeployment',
      'awaitRollout',
      'observeEndpoints (local)',
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
          suite.env().temporalAddress,
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
        suite.env().temporalAddress,
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
});
