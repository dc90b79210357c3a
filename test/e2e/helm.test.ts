/**
 * The Helm chart on the local cluster, and least privilege proved: the chart installs, and the controller,
 * worker and gateway run as processes with tokens of the chart's ServiceAccounts, so every call they make is
 * authorized by the ClusterRoles generated from src/rbac/permissions.ts. Zero denials is checked in the API
 * server's audit log (when the environment writes one) and in the processes' output; a verb taken out of the
 * table shows up as a denial and as the resource's Degraded condition. helm-render.test.ts checks the render,
 * helm-chat.test.ts a chat answer under the same ServiceAccounts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { CHART_DIR } from '../../src/cli/crds.ts';
import { PERMISSIONS } from '../../src/rbac/permissions.ts';
import { assertNoDenials, ChartRelease, condition, DENIED, denialsIn } from '../helpers/chart-release.ts';
import { until } from '../helpers/gateway.ts';
import { ok } from '../helpers/helm.ts';
import { eventually } from '../helpers/kubectl.ts';

/** Where the examples are applied. */
const NS = `e2e-helm-${process.pid}`;
const QUEUE = `e2e-helm-${process.pid}`;
/** The original examples that become Ready (the gateway's mistral3 route has no service). */
const READY_EXAMPLES = [
  ['InferenceService', 'llama3-chatbot-service'],
  ['InferenceCache', 'llama3-chatbot-cache'],
  ['SpeculativeDecoding', 'sd-llama3-chatbot'],
  ['PrefillDecodingDisaggregation', 'pdd-llama3-chatbot'],
] as const;
const chart = new ChartRelease('helm', [NS]);

describe('the Helm chart, with the product running under its least-privilege RBAC', () => {
  before(() => chart.setUp());
  after(() => chart.tearDown());

  it('installs with --wait: the Deployments are accepted, scheduled on kwok nodes and available', () => {
    const started = Date.now();
    ok(
      chart.install(CHART_DIR, ['--set', 'worker.replicas=2', '--wait', '--timeout', '120s']),
      'helm install',
    );
    console.log(`# helm install --wait took ${((Date.now() - started) / 1000).toFixed(1)}s`);
    for (const [component, replicas] of [
      ['controller', 1],
      ['worker', 2],
    ] as const) {
      const d = JSON.parse(
        chart.kubectl([
          'get',
          'deployment',
          `${chart.fullname}-${component}`,
          '-n',
          chart.namespace,
          '-o',
          'json',
        ]).stdout,
      ) as { status: { availableReplicas?: number } };
      assert.equal(d.status.availableReplicas, replicas, `${component} available replicas`);
      const pods = JSON.parse(
        chart.kubectl([
          'get',
          'pods',
          '-n',
          chart.namespace,
          '-l',
          `app.kubernetes.io/component=${component}`,
          '-o',
          'json',
        ]).stdout,
      ) as {
        items: { spec: { nodeName?: string; serviceAccountName: string }; status: { phase: string } }[];
      };
      assert.equal(pods.items.length, replicas);
      for (const p of pods.items) {
        assert.match(p.spec.nodeName ?? '', /^kwok-/);
        assert.equal(p.status.phase, 'Running');
        assert.equal(p.spec.serviceAccountName, `${chart.fullname}-${component}`);
      }
    }
  });

  it('lets namespace users manage the five kinds through the aggregated edit and view roles', async () => {
    const as = (role: string) => ['--as', `user-${role}`, '-n', NS];
    ok(
      chart.kubectl(['create', 'rolebinding', 'editor', '--clusterrole=edit', '--user=user-edit', '-n', NS]),
      'bind edit',
    );
    ok(
      chart.kubectl(['create', 'rolebinding', 'viewer', '--clusterrole=view', '--user=user-view', '-n', NS]),
      'bind view',
    );
    for (const plural of ['inferenceservices', 'inferencegateways', 'inferencecaches']) {
      const check = (role: string, verb: string) =>
        chart
          .kubectl(['auth', 'can-i', verb, `${plural}.production-stack.vllm.ai`, ...as(role)])
          .stdout.trim();
      // The aggregation controller fills the built-in roles shortly after the labelled roles appear.
      await eventually(`edit can create ${plural}`, () =>
        check('edit', 'create') === 'yes' ? true : undefined,
      );
      await eventually(`view can list ${plural}`, () => (check('view', 'list') === 'yes' ? true : undefined));
      assert.equal(check('view', 'delete'), 'no', `view cannot delete ${plural}`);
    }
  });

  it('runs the controller, worker and gateway under their ServiceAccounts: the original examples Ready, zero denials', async () => {
    chart.mintKubeconfigs();
    const { port } = await chart.startProduct('', NS, QUEUE, 'llm-gateway');
    const started = Date.now();
    ok(chart.kubectl(['apply', '-n', NS, '-f', 'examples/original']), 'apply the examples');
    for (const [kind, name] of READY_EXAMPLES) {
      await eventually(
        `${kind}/${name} Ready`,
        () => {
          const r = chart.get(kind.toLowerCase(), name, NS);
          return condition(r, 'Ready')?.status === 'True' &&
            r?.status?.observedGeneration === r?.metadata.generation
            ? r
            : undefined;
        },
        120_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${chart.diagnosis(kind, name, NS)}`);
      });
    }
    for (const [kind, name] of [...READY_EXAMPLES, ['InferenceGateway', 'llm-gateway']])
      await chart.assertOurWorkflow(kind, NS, name, QUEUE);
    // mistral3 routes to a service the examples never define.
    await eventually('llm-gateway 1/2 routes ready', () =>
      chart.get('inferencegateway', 'llm-gateway', NS)?.status?.readyRoutes === '1/2' ? true : undefined,
    );
    console.log(`# examples Ready ${((Date.now() - started) / 1000).toFixed(1)}s after apply`);

    // The InferenceGateway's own gateway: a Deployment with spec.replicas (scheduled on kwok), a Service on
    // spec.listener.port, the admin token in a Secret, and the address in the status.
    const gatewayStatus = await eventually('llm-gateway publishes its address', () => {
      const s = chart.get('inferencegateway', 'llm-gateway', NS)?.status;
      return s?.address && s.adminUrl ? s : undefined;
    });
    assert.equal(gatewayStatus.address, `http://llm-gateway-gateway.${NS}.svc:8080`);
    assert.equal(gatewayStatus.adminUrl, `http://llm-gateway-gateway.${NS}.svc:9090`);
    const deployment = chart.get('deployment', 'llm-gateway-gateway', NS) as unknown as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string } } };
    };
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'llm-gateway-gateway');
    const service = chart.get('service', 'llm-gateway-gateway', NS) as unknown as {
      spec: { ports: { name: string; port: number }[] };
    };
    assert.deepEqual(
      service.spec.ports.map((p) => [p.name, p.port]),
      [
        ['http', 8080],
        ['admin', 9090],
      ],
    );
    const token = chart.kubectl([
      'get',
      'secret',
      '-n',
      NS,
      String(gatewayStatus.adminSecret),
      '-o',
      'jsonpath={.data.token}',
    ]).stdout;
    assert.equal(Buffer.from(token, 'base64').toString().length, 64);
    await eventually('the gateway Deployment is available on kwok', () =>
      chart.get('deployment', 'llm-gateway-gateway', NS)?.status?.availableReplicas === 1 ? true : undefined,
    );

    // The gateway, reading through its own ServiceAccount, serves the InferenceGateway's routes.
    const models = await until('gateway lists llama3-70b', async () => {
      const body = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as {
        data: { id: string }[];
      };
      return body.data.some((m) => m.id === 'llama3-70b') ? body : undefined;
    });
    assert.ok(models);

    assertNoDenials(Object.entries(chart.processes).map(([name, p]) => [name, p.output()]));
    const events = chart.auditEvents();
    if (events === undefined) {
      console.log(
        `# no audit log in this environment (started before it wrote one): denials counted from output`,
      );
    } else {
      for (const component of ['controller', 'worker', 'gateway'])
        assert.ok(
          events.some((e) => e.user.username.endsWith(`:${chart.fullname}-${component}`)),
          `the audit log has requests of the ${component}'s ServiceAccount`,
        );
      console.log(
        `# audit: ${events.length} requests of the chart's ServiceAccounts, ${denialsIn(events).length} denied`,
      );
      assert.deepEqual(denialsIn(events), []);
    }
  });

  it('a verb taken out of the table is denied, and the InferenceService reports it as Degraded', async () => {
    // The worker's ClusterRole regenerated from the table without patch on Deployments (server-side apply).
    chart.applyWorkerRole(
      PERMISSIONS.worker.map((r) =>
        r.apiGroup === 'apps' ? { ...r, verbs: r.verbs.filter((v) => v !== 'patch') } : r,
      ),
    );
    const before = chart.processes.worker?.output().length ?? 0;
    ok(
      chart.kubectl(
        ['apply', '-n', NS, '-f', '-'],
        stringify({
          apiVersion: 'production-stack.vllm.ai/v1alpha1',
          kind: 'InferenceService',
          metadata: { name: 'denied-service' },
          spec: { modelName: 'llama3-8b', backendRef: 'denied-backend' },
        }),
      ),
      'apply denied-service',
    );
    await chart.assertOurWorkflow('InferenceService', NS, 'denied-service', QUEUE);
    const degraded = await eventually(
      'denied-service Degraded',
      () => {
        const c = condition(chart.get('inferenceservice', 'denied-service', NS), 'Degraded');
        return c?.status === 'True' ? c : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${chart.diagnosis('InferenceService', 'denied-service', NS)}`);
    });
    assert.equal(degraded.reason, 'KubernetesForbidden');
    assert.match(degraded.message, /cannot patch resource "deployments" in API group "apps"/);
    const events = chart.auditEvents();
    if (events !== undefined) {
      const audited = denialsIn(events);
      console.log(`# audit: ${audited.length} denied after removing patch on deployments`);
      assert.ok(
        audited.some((d) =>
          d.includes(`${chart.fullname}-worker patch /apis/apps/v1/namespaces/${NS}/deployments/`),
        ),
        audited.join('\n'),
      );
    }
    const denied = (chart.processes.worker?.output().slice(before) ?? '')
      .split('\n')
      .filter((l) => DENIED.test(l));
    console.log(`# worker: ${denied.length} output lines with the denial`);
    assert.ok(denied.length > 0, 'the worker logs the denied call');
    const deployments = chart.kubectl([
      'get',
      'deployments',
      '-n',
      NS,
      '-l',
      'production-stack.vllm.ai/inference-service=denied-service',
      '-o',
      'name',
    ]);
    assert.equal(deployments.stdout.trim(), '', 'no Deployment was created');
  });
});
