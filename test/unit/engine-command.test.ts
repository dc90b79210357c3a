import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InferenceCacheSpecSchema,
  InferenceServiceSpecSchema,
  PrefillDecodingDisaggregationSpecSchema,
  type ServingGroup,
  type ServingPlan,
} from '../../src/api/index.ts';
import { renderPlan } from '../../src/activities/vllm/render.ts';
import { deploymentFor } from '../../src/runtime/kubernetes/manifests.ts';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.ts';

// commandFor only renders; the folder is never touched.
const processes = new ProcessRuntime({
  dir: '/nonexistent/replicas',
  simulator: '/opt/tools/llm-d-inference-sim',
  vllm: '/opt/venv/bin/vllm',
});

function planFor(engine: 'vllm' | 'simulator'): ServingPlan {
  return renderPlan({
    namespace: 'default',
    name: 'chat',
    uid: 'uid-1',
    spec: InferenceServiceSpecSchema.parse({
      modelName: 'qwen3-8b',
      runtime: { model: 'Qwen/Qwen3-8B', engine },
    }),
    cache: InferenceCacheSpecSchema.parse({ modelName: 'qwen3-8b', blockSize: 32 }),
    pdd: PrefillDecodingDisaggregationSpecSchema.parse({ modelName: 'qwen3-8b' }),
  });
}

function podCommand(plan: ServingPlan, group: ServingGroup): string[] {
  const d = deploymentFor(plan, group, 1) as {
    spec: { template: { spec: { containers: { command: string[]; args?: string[] }[] } } };
  };
  const [container] = d.spec.template.spec.containers;
  return [...container!.command, ...(container!.args ?? [])];
}

describe('the engine command both runtimes run', () => {
  it('is the same simulator command line in a pod and in a local process, for every group of one plan', () => {
    const plan = planFor('simulator');
    assert.deepEqual(
      plan.groups.map((g) => g.role),
      ['prefill', 'decode'],
    );
    for (const group of plan.groups) {
      const pod = podCommand(plan, group);
      const local = processes.commandFor(plan, group, plan.port);
      assert.equal(pod[0], '/app/llm-d-inference-sim');
      assert.equal(local[0], '/opt/tools/llm-d-inference-sim');
      assert.deepEqual(pod.slice(1), local.slice(1), `${group.role}: the runtimes' simulator flags drifted`);
      assert.deepEqual(local.slice(1), [
        '--port',
        '8000',
        '--model',
        'qwen3-8b',
        '--force-dummy-tokenizer',
        '--enable-kvcache',
        '--block-size',
        '32',
        '--enable-sleep-mode',
        '--time-to-first-token',
        '20ms',
        '--inter-token-latency',
        '10ms',
      ]);
    }
  });

  it('differs for a local simulator only in the port the process runtime picked', () => {
    const plan = planFor('simulator');
    const group = plan.groups[0]!;
    const pod = podCommand(plan, group);
    const local = processes.commandFor(plan, group, 41234);
    assert.deepEqual(local.slice(1), ['--port', '41234', ...pod.slice(3)]);
  });

  it('runs vllm serve with the same rendered arguments; a local process adds only its loopback address and port', () => {
    const plan = planFor('vllm');
    for (const group of plan.groups) {
      const pod = podCommand(plan, group);
      const local = processes.commandFor(plan, group, 41234);
      assert.deepEqual(pod, ['vllm', 'serve', 'Qwen/Qwen3-8B', ...group.args]);
      assert.deepEqual(local, [
        '/opt/venv/bin/vllm',
        ...pod.slice(1),
        '--host',
        '127.0.0.1',
        '--port',
        '41234',
      ]);
    }
  });

  it('gives the simulator the default block size when no InferenceCache renders one', () => {
    const plan = renderPlan({
      namespace: 'default',
      name: 'm',
      uid: 'uid-2',
      spec: InferenceServiceSpecSchema.parse({ modelName: 'm', runtime: { engine: 'simulator' } }),
    });
    const pod = podCommand(plan, plan.groups[0]!);
    assert.deepEqual(pod.slice(pod.indexOf('--block-size'), pod.indexOf('--block-size') + 2), [
      '--block-size',
      '16',
    ]);
    assert.deepEqual(pod.slice(1), processes.commandFor(plan, plan.groups[0]!, plan.port).slice(1));
  });
});
