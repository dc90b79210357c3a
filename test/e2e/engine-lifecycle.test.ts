import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startController } from '../helpers/engine.ts';
import { API, condition, engineSuite } from '../helpers/engine-suite.ts';
import { eventually } from '../helpers/kubectl.ts';

const NS = `e2e-lifecycle-${process.pid}`;
const suite = engineSuite(NS);
const { apply, deployment, engine, get, infctl, kubectl, ready } = suite;

describe('the engine on specs, references, duplicate controllers and deletion', () => {
  before(() => suite.setUp());
  after(() => suite.tearDown());

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

  it('starts no duplicate work when two controllers run at once', async () => {
    engine.push(await startController(suite.env()));
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'twin' },
      spec: { modelName: 'twin-model' },
    });
    await eventually('twin Ready', () => ready('inferenceservice', 'twin'), 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const runs: string[] = [];
    for await (const wf of suite
      .temporal()
      .workflow.list({ query: `WorkflowId = "InferenceService/${NS}/twin"` }))
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
    const description = await suite.temporal().workflow.getHandle(`InferenceService/${NS}/twin`).describe();
    assert.equal(description.status.name, 'COMPLETED');
  });
});
