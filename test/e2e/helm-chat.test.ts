/**
 * A chat request answered through the gateway with the controller, worker and gateway under the chart's
 * ServiceAccounts (as in helm.test.ts), the replicas and the InferenceGateway's own gateway on the process
 * runtime, so a request gets an answer; deleting the resources stops them without a denial.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { CHART_DIR } from '../../src/cli/crds.ts';
import { assertNoDenials, ChartRelease } from '../helpers/chart-release.ts';
import { until } from '../helpers/gateway.ts';
import { ok } from '../helpers/helm.ts';

const CHAT_NS = `e2e-helm-chat-${process.pid}`;
const CHAT_QUEUE = `e2e-helm-chat-${process.pid}`;
const chart = new ChartRelease('helm-chat', [CHAT_NS]);

describe('the Helm chart: a chat answer under its least-privilege RBAC', () => {
  before(async () => {
    await chart.setUp();
    // The ServiceAccounts and ClusterRoles are what this file needs; the Deployments need not become available.
    ok(chart.install(CHART_DIR), 'helm install');
    chart.mintKubeconfigs();
  });
  after(() => chart.tearDown());

  it('answers a chat request through the gateway under its ServiceAccount (replicas on the process runtime)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infctl-helm-proc-'));
    // The process runtime also runs the InferenceGateway's own gateway, under the gateway's ServiceAccount.
    const { port } = await chart.startProduct('chat-', CHAT_NS, CHAT_QUEUE, 'chat-gateway', {
      INFCTL_RUNTIME: 'process',
      INFCTL_PROCESS_DIR: join(dir, 'replicas'),
      INFCTL_GATEWAY_DIR: join(dir, 'gateways'),
      INFCTL_GATEWAY_KUBECONFIG: chart.kubeconfigs.gateway!,
    });
    const api = 'production-stack.vllm.ai/v1alpha1';
    for (const doc of [
      {
        apiVersion: api,
        kind: 'InferenceService',
        metadata: { name: 'chat-service' },
        spec: { modelName: 'chat-model', runtime: { engine: 'simulator', replicas: 1 } },
      },
      {
        apiVersion: api,
        kind: 'InferenceGateway',
        metadata: { name: 'chat-gateway' },
        spec: { routes: [{ model: 'chat-model', inferenceServiceRef: 'chat-service' }] },
      },
    ])
      ok(chart.kubectl(['apply', '-n', CHAT_NS, '-f', '-'], stringify(doc)), `apply ${doc.kind}`);
    const answer = await until(
      'a chat answer through the gateway',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'Hello there' }] }),
        }).catch(() => undefined);
        return res?.status === 200 ? ((await res.json()) as { choices: unknown[] }) : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${chart.diagnosis('InferenceService', 'chat-service', CHAT_NS)}`);
    });
    assert.ok(answer.choices.length > 0);
    // Deleted while the worker runs, so it stops the replica and gateway processes and releases the finalizers.
    ok(
      chart.kubectl(['delete', 'inferenceservice,inferencegateway', '--all', '-n', CHAT_NS, '--timeout=60s']),
      'delete chat-service and chat-gateway',
    );
    await chart.processes['chat-worker']?.kill();
    const deployedLog = join(dir, 'gateways', CHAT_NS, 'chat-gateway.log');
    const outputs: [string, string][] = [
      ...['chat-worker', 'chat-controller', 'chat-gateway'].map((n): [string, string] => [
        n,
        chart.processes[n]?.output() ?? '',
      ]),
      ['chat-gateway (deployed)', existsSync(deployedLog) ? readFileSync(deployedLog, 'utf8') : ''],
    ];
    rmSync(dir, { recursive: true, force: true });
    assertNoDenials(outputs);
  });
});
