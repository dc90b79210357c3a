import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import { workflowIdFor } from '../../src/temporal/start.ts';
import { stateQuery } from '../../src/workflows/messages.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { startController, startWorker, temporalFor, type EngineProcess } from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-resync-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
const RESYNC_MS = 2000;
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let metricsUrl = '';
const engine: EngineProcess[] = [];

const RESOURCES = [
  { kind: 'InferenceService', plural: 'inferenceservice', name: 'svc-a', spec: { modelName: 'model-a' } },
  { kind: 'InferenceService', plural: 'inferenceservice', name: 'svc-b', spec: { modelName: 'model-b' } },
  {
    kind: 'InferenceCache',
    plural: 'inferencecache',
    name: 'cache-a',
    spec: { modelName: 'model-a', kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 } },
  },
];

const ready = (plural: string, name: string) => {
  const r = kubectl(['get', plural, name, '-n', NS, '-o', 'json']);
  if (r.code !== 0) return undefined;
  const o = JSON.parse(r.stdout) as { status?: { conditions?: { type: string; status: string }[] } };
  return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
};

/** The controller's counter, summed over the series whose labels match. */
const counter = async (name: string, labels: Record<string, string>) =>
  metricSum(
    parseExposition(await (await fetch(metricsUrl)).text()).filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    ),
    name,
  ) ?? 0;

/** Signals in the resources' workflow histories, counted by Temporal (every run of each workflow). */
async function signalsInHistories(): Promise<number> {
  let count = 0;
  for (const r of RESOURCES) {
    const id = workflowIdFor(r.kind, NS, r.name);
    for await (const run of temporal.workflow.list({ query: `WorkflowId = "${id}"` })) {
      const history = await temporal.workflow.getHandle(id, run.runId).fetchHistory();
      count += (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    }
  }
  return count;
}

describe('the periodic resync compares before it signals', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    const address = `127.0.0.1:${await freePort()}`;
    metricsUrl = `http://${address}/metrics`;
    engine.push(await startWorker(env));
    engine.push(await startController(env, 2000, { INFCTL_CONTROLLER_METRICS_ADDRESS: address }, RESYNC_MS));
    for (const r of RESOURCES) {
      const applied = kubectl(
        ['apply', '-n', NS, '-f', '-'],
        stringify({ apiVersion: API, kind: r.kind, metadata: { name: r.name }, spec: r.spec }),
      );
      assert.equal(applied.code, 0, applied.stderr);
    }
    for (const r of RESOURCES)
      await eventually(`${r.kind}/${r.name} Ready`, () => ready(r.plural, r.name), 90_000);
  });
  after(async () => {
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    for (const p of engine) await p.kill();
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('sends no signal over several resyncs when nothing changed', async () => {
    const specsBefore = await counter('infctl_controller_signals_total', { signal: 'spec' });
    const unchangedBefore = await counter('infctl_controller_resync_compared_total', {
      verdict: 'unchanged',
    });
    const historyBefore = await signalsInHistories();
    await new Promise((r) => setTimeout(r, 4 * RESYNC_MS));
    const unchanged =
      (await counter('infctl_controller_resync_compared_total', { verdict: 'unchanged' })) - unchangedBefore;
    console.log(`# ${unchanged} objects compared unchanged over ${4 * RESYNC_MS} ms`);
    // At least three resyncs of the three objects happened in the window, and each found nothing to send.
    assert.ok(unchanged >= 3 * RESOURCES.length, `only ${unchanged} comparisons in the window`);
    assert.equal(await counter('infctl_controller_signals_total', { signal: 'spec' }), specsBefore);
    assert.equal(await signalsInHistories(), historyBefore, 'a workflow received a signal in the window');
  });

  it('starts a terminated workflow again at the next resync, and the resource stays Ready', async () => {
    const id = workflowIdFor('InferenceService', NS, 'svc-b');
    const missingBefore = await counter('infctl_controller_resync_compared_total', { verdict: 'missing' });
    const oldRun = (await temporal.workflow.getHandle(id).describe()).runId;
    await temporal.workflow.getHandle(id).terminate('test: a lost workflow');
    const restarted = await until(
      'a new run of the terminated workflow',
      async () => {
        const d = await temporal.workflow.getHandle(id).describe();
        return d.runId !== oldRun && d.status.name === 'RUNNING' ? d : undefined;
      },
      20_000,
    );
    assert.equal(restarted.status.name, 'RUNNING');
    assert.ok(
      (await counter('infctl_controller_resync_compared_total', { verdict: 'missing' })) > missingBefore,
      'the resync did not count the workflow missing',
    );
    // The new run took the spec from the resync's signal and reconciled the service again.
    await eventually('svc-b Ready after the restart', () => ready('inferenceservice', 'svc-b'), 60_000);
    const state = await until(
      'the new run reconciled the generation',
      async () => {
        const s = await temporal.workflow.getHandle(id).query(stateQuery);
        return s.reconciledGeneration >= 1 ? s : undefined;
      },
      30_000,
    );
    assert.ok(state.reconciledGeneration >= 1);
  });
});
