/**
 * The Helm chart on the local cluster, and least privilege proved: the chart installs, and the controller,
 * worker and gateway run as processes with tokens of the chart's ServiceAccounts, so every call they make is
 * authorized by the ClusterRoles generated from src/rbac/permissions.ts. Zero denials is checked in the API
 * server's audit log (when the environment writes one) and in the processes' output; a verb taken out of the
 * table shows up as a denial and as the resource's Degraded condition.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { CHART_DIR } from '../../src/cli/crds.ts';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { auditLogPath } from '../../src/cli/dev/dev-processes.ts';
import { policyRules } from '../../src/rbac/cluster-roles.ts';
import { PERMISSIONS, type PermissionRow } from '../../src/rbac/permissions.ts';
import { workflowIdFor } from '../../src/temporal/start.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  startController,
  startEngineProcess,
  startWorker,
  temporalFor,
  type EngineProcess,
} from '../helpers/engine.ts';
import { until } from '../helpers/gateway.ts';
import { assertProbes, helmFor, installMonitoringCrds, ok, renderedContainers } from '../helpers/helm.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const RELEASE = `ic-${process.pid}`;
const FULLNAME = `${RELEASE}-inference-controller`;
/** Where the chart is installed, and where the examples are applied. */
const CHART_NS = `e2e-helm-chart-${process.pid}`;
const NS = `e2e-helm-${process.pid}`;
const QUEUE = `e2e-helm-${process.pid}`;
/** The chat test's namespace and queue: replicas on the process runtime, so a request gets an answer. */
const CHAT_NS = `e2e-helm-chat-${process.pid}`;
const CHAT_QUEUE = `e2e-helm-chat-${process.pid}`;
const EVERY_OPTION = join(CHART_DIR, 'ci', 'every-option-values.yaml');
const DENIED = /forbidden|\b403\b/i;
/** The original examples that become Ready (the gateway's mistral3 route has no service). */
const READY_EXAMPLES = [
  ['InferenceService', 'llama3-chatbot-service'],
  ['InferenceCache', 'llama3-chatbot-cache'],
  ['SpeculativeDecoding', 'sd-llama3-chatbot'],
  ['PrefillDecodingDisaggregation', 'pdd-llama3-chatbot'],
] as const;

let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let helmHome: string;
let temporal: Client;
const processes: Record<string, EngineProcess> = {};
const kubeconfigs: Record<string, string> = {};

let helm: ReturnType<typeof helmFor>;

/** A kubeconfig for `component`'s ServiceAccount: the local cluster, authenticated by a minted token. */
function kubeconfigFor(component: string): string {
  const token = kubectl(['create', 'token', `${FULLNAME}-${component}`, '-n', CHART_NS, '--duration=2h']);
  ok(token, `token for ${component}`);
  const admin = parse(readFileSync(env.kubeconfig, 'utf8')) as { clusters: unknown[] };
  const file = join(helmHome, `${component}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: admin.clusters,
      users: [{ name: component, user: { token: token.stdout.trim() } }],
      contexts: [
        {
          name: component,
          context: { cluster: (admin.clusters[0] as { name: string }).name, user: component },
        },
      ],
      'current-context': component,
    }),
  );
  return file;
}

/**
 * The controller, a worker and the gateway under the chart's ServiceAccounts, on their own task queue with the
 * controller and gateway confined to `namespace`, so no other test's workflows run here; `prefix` names them.
 */
async function startProduct(
  prefix: string,
  namespace: string,
  queue: string,
  gateway: string,
  workerEnv: Record<string, string> = {},
): Promise<{ port: string }> {
  processes[`${prefix}worker`] = await startWorker(env, {
    KUBECONFIG: kubeconfigs.worker!,
    TEMPORAL_TASK_QUEUE: queue,
    INFCTL_GATEWAY_CLUSTER_ROLE: `${FULLNAME}-gateway`,
    ...workerEnv,
  });
  processes[`${prefix}controller`] = await startController(env, 1000, {
    KUBECONFIG: kubeconfigs.controller!,
    TEMPORAL_TASK_QUEUE: queue,
    INFCTL_WATCH_NAMESPACE: namespace,
  });
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const gw = await startEngineProcess(
    env,
    [
      'gateway',
      '--gateway',
      `${namespace}/${gateway}`,
      '--namespace',
      namespace,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
    ],
    listening,
    { KUBECONFIG: kubeconfigs.gateway! },
  );
  processes[`${prefix}gateway`] = gw;
  return { port: listening.exec(gw.output())?.[1] as string };
}

/** The worker's ClusterRole, regenerated from `rows` (the table's, or the table's with a verb taken out). */
const applyWorkerRole = (rows: readonly PermissionRow[]) =>
  ok(
    kubectl(
      ['apply', '-f', '-'],
      stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `${FULLNAME}-worker` },
        rules: policyRules(rows, FULLNAME),
      }),
    ),
    'apply the worker ClusterRole',
  );

interface AuditEvent {
  user: { username: string };
  verb: string;
  requestURI: string;
  responseStatus?: { code: number };
}

/** The audit events of the chart's ServiceAccounts, or undefined when the environment writes no audit log. */
function auditEvents(): AuditEvent[] | undefined {
  const file = auditLogPath(env.stateDir);
  if (!existsSync(file)) return undefined;
  const prefix = `system:serviceaccount:${CHART_NS}:`;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes(prefix))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.user.username.startsWith(prefix));
}

const denialsIn = (events: AuditEvent[]) =>
  events
    .filter((e) => e.responseStatus?.code === 403)
    .map((e) => `${e.user.username} ${e.verb} ${e.requestURI}`);

interface Resource {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    readyRoutes?: string;
    /** InferenceGateway: its deployed gateway. */
    address?: string;
    adminUrl?: string;
    adminSecret?: string;
    /** Deployment. */
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}
const get = (kind: string, name: string, namespace = NS): Resource | undefined => {
  const r = kubectl(['get', kind, name, '-n', namespace, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Resource) : undefined;
};
/**
 * Fails unless the resource's workflow runs on this file's task queue: a controller of another test running at
 * the same time (they watch every namespace) may have started it first, and then that test's worker, not the
 * one under the chart's RBAC, does the work.
 */
async function assertOurWorkflow(kind: string, name: string): Promise<void> {
  const id = workflowIdFor(kind, NS, name);
  let described: { taskQueue: string } | undefined;
  for (const deadline = Date.now() + 30_000; !described && Date.now() < deadline;) {
    described = await temporal.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (!described) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(described, `workflow ${id} was never started`);
  assert.equal(
    described.taskQueue,
    QUEUE,
    `${id} runs on task queue ${described.taskQueue}: another controller started it (run this file alone)`,
  );
}

/** What a failed wait shows: the resource's status and the end of each process's output. */
const diagnosis = (kind: string, name: string, namespace = NS) =>
  [
    JSON.stringify(get(kind.toLowerCase(), name, namespace)?.status ?? 'not found', null, 1),
    ...Object.entries(processes).map(([p, e]) => `--- ${p}:\n${e.output().slice(-3000)}`),
  ].join('\n');

const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('the Helm chart, with the product running under its least-privilege RBAC', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    helmHome = mkdtempSync(join(tmpdir(), 'infctl-helm-'));
    helm = helmFor(env, helmHome);
    // Every option includes the monitoring objects: the generated prometheus-operator CRDs serve them.
    installMonitoringCrds(kubectl);
    temporal = await temporalFor(env);
    for (const ns of [CHART_NS, NS, CHAT_NS]) ok(kubectl(['create', 'namespace', ns]), `namespace ${ns}`);
  });
  after(async () => {
    for (const p of Object.values(processes)) await p.kill();
    for (const ns of [NS, CHAT_NS]) kubectl(['delete', 'namespace', ns, '--wait=false']);
    helm(['uninstall', RELEASE, '-n', CHART_NS, '--wait=false']);
    kubectl(['delete', 'namespace', CHART_NS, '--wait=false']);
    rmSync(helmHome, { recursive: true, force: true });
    await temporal?.connection.close();
    await releaseDevEnvironment();
  });

  it('passes helm lint --strict', () => {
    ok(helm(['lint', '--strict', CHART_DIR, '--set', 'temporal.address=temporal:7233']), 'helm lint');
    ok(helm(['lint', '--strict', CHART_DIR, '-f', EVERY_OPTION]), 'helm lint with every option');
  });

  it('renders the default values and every option into manifests the API server accepts (--dry-run=server)', () => {
    const dashboards = existsSync(join(CHART_DIR, 'dashboards'))
      ? readdirSync(join(CHART_DIR, 'dashboards')).filter((f) => f.endsWith('.json')).length
      : 0;
    const monitoring = ['PodMonitor', 'PrometheusRule', 'Service', 'ServiceMonitor'];
    for (const [values, extraKinds] of [
      [['--set', 'temporal.address=temporal:7233'], []],
      [['-f', EVERY_OPTION], dashboards > 0 ? [...monitoring, 'ConfigMap'] : monitoring],
    ] as [string[], string[]][]) {
      const rendered = helm(['template', RELEASE, CHART_DIR, '-n', CHART_NS, '--include-crds', ...values]);
      ok(rendered, `helm template ${values.join(' ')}`);
      const kinds = parseAllDocuments(rendered.stdout)
        .map((d) => (d.toJS() as { kind?: string } | null)?.kind)
        .filter((k) => k !== undefined)
        .sort();
      assert.deepEqual(
        [...new Set(kinds)],
        [
          'ClusterRole',
          'ClusterRoleBinding',
          'CustomResourceDefinition',
          'Deployment',
          'PodDisruptionBudget',
          'ServiceAccount',
          ...extraKinds,
        ].sort(),
      );
      // Three component roles and the aggregated view and edit roles.
      assert.equal(kinds.filter((k) => k === 'ClusterRole').length, 5);
      ok(
        kubectl(['apply', '--dry-run=server', '-n', CHART_NS, '-f', '-'], rendered.stdout),
        `kubectl apply --dry-run=server of ${values.join(' ')}`,
      );
    }
    const all = helm(['template', RELEASE, CHART_DIR, '-n', CHART_NS, '-f', EVERY_OPTION]).stdout;
    for (const text of [
      'TEMPORAL_TLS_CA',
      'TEMPORAL_API_KEY',
      'secretName: temporal-client-tls',
      'INFCTL_WATCH_NAMESPACE',
      'INFCTL_WORKER_METRICS_ADDRESS',
      'INFCTL_WORKER_MAX_CACHED_WORKFLOWS',
      'INFCTL_WORKER_STICKY_QUEUE_TIMEOUT',
      'path: /healthz',
      'minAvailable: 1',
    ])
      assert.ok(all.includes(text), `every-option render lacks ${text}`);
  });

  it('probes /healthz and /readyz on a port named metrics where each process listens (9090, 9091 by default)', () => {
    const defaults = renderedContainers(
      helm(['template', RELEASE, CHART_DIR, '--set', 'temporal.address=temporal:7233']).stdout,
    );
    assertProbes(defaults.controller, 'controller', 9090);
    assertProbes(defaults.worker, 'worker', 9091);
    const every = renderedContainers(helm(['template', RELEASE, CHART_DIR, '-f', EVERY_OPTION]).stdout);
    assertProbes(every.controller, 'controller', 8081);
    assertProbes(every.worker, 'worker', 9464);
    const off = renderedContainers(
      helm([
        'template',
        RELEASE,
        CHART_DIR,
        '--set',
        'temporal.address=temporal:7233',
        '--set',
        'worker.livenessProbe=null',
      ]).stdout,
    );
    assert.equal(off.worker?.livenessProbe, undefined, 'a probe set to null is left out');
    assert.ok(off.worker?.readinessProbe, 'the other probe stays');
  });

  it('rejects values the schema does not allow', () => {
    const r = helm([
      'template',
      RELEASE,
      CHART_DIR,
      '--set',
      'temporal.address=t:7233',
      '--set',
      'worker.replica=3',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /replica/);
    const missing = helm(['template', RELEASE, CHART_DIR]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /temporal\.address is required/);
  });

  it('installs with --wait: the Deployments are accepted, scheduled on kwok nodes and available', () => {
    const started = Date.now();
    ok(
      helm([
        'install',
        RELEASE,
        CHART_DIR,
        '-n',
        CHART_NS,
        '--set',
        `temporal.address=${env.temporalAddress}`,
        '--set',
        'worker.replicas=2',
        '--wait',
        '--timeout',
        '120s',
      ]),
      'helm install',
    );
    console.log(`# helm install --wait took ${((Date.now() - started) / 1000).toFixed(1)}s`);
    for (const [component, replicas] of [
      ['controller', 1],
      ['worker', 2],
    ] as const) {
      const d = JSON.parse(
        kubectl(['get', 'deployment', `${FULLNAME}-${component}`, '-n', CHART_NS, '-o', 'json']).stdout,
      ) as { status: { availableReplicas?: number } };
      assert.equal(d.status.availableReplicas, replicas, `${component} available replicas`);
      const pods = JSON.parse(
        kubectl([
          'get',
          'pods',
          '-n',
          CHART_NS,
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
        assert.equal(p.spec.serviceAccountName, `${FULLNAME}-${component}`);
      }
    }
  });

  it('lets namespace users manage the five kinds through the aggregated edit and view roles', async () => {
    const as = (role: string) => ['--as', `user-${role}`, '-n', NS];
    ok(
      kubectl(['create', 'rolebinding', 'editor', '--clusterrole=edit', '--user=user-edit', '-n', NS]),
      'bind edit',
    );
    ok(
      kubectl(['create', 'rolebinding', 'viewer', '--clusterrole=view', '--user=user-view', '-n', NS]),
      'bind view',
    );
    for (const plural of ['inferenceservices', 'inferencegateways', 'inferencecaches']) {
      const check = (role: string, verb: string) =>
        kubectl(['auth', 'can-i', verb, `${plural}.production-stack.vllm.ai`, ...as(role)]).stdout.trim();
      // The aggregation controller fills the built-in roles shortly after the labelled roles appear.
      await eventually(`edit can create ${plural}`, () =>
        check('edit', 'create') === 'yes' ? true : undefined,
      );
      await eventually(`view can list ${plural}`, () => (check('view', 'list') === 'yes' ? true : undefined));
      assert.equal(check('view', 'delete'), 'no', `view cannot delete ${plural}`);
    }
  });

  it('runs the controller, worker and gateway under their ServiceAccounts: the original examples Ready, zero denials', async () => {
    for (const component of ['controller', 'worker', 'gateway'])
      kubeconfigs[component] = kubeconfigFor(component);
    const { port } = await startProduct('', NS, QUEUE, 'llm-gateway');
    const started = Date.now();
    ok(kubectl(['apply', '-n', NS, '-f', 'examples/original']), 'apply the examples');
    for (const [kind, name] of READY_EXAMPLES) {
      await eventually(
        `${kind}/${name} Ready`,
        () => {
          const r = get(kind.toLowerCase(), name);
          return condition(r, 'Ready')?.status === 'True' &&
            r?.status?.observedGeneration === r?.metadata.generation
            ? r
            : undefined;
        },
        120_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnosis(kind, name)}`);
      });
    }
    for (const [kind, name] of [...READY_EXAMPLES, ['InferenceGateway', 'llm-gateway']])
      await assertOurWorkflow(kind, name);
    // mistral3 routes to a service the examples never define.
    await eventually('llm-gateway 1/2 routes ready', () =>
      get('inferencegateway', 'llm-gateway')?.status?.readyRoutes === '1/2' ? true : undefined,
    );
    console.log(`# examples Ready ${((Date.now() - started) / 1000).toFixed(1)}s after apply`);

    // The InferenceGateway's own gateway: a Deployment with spec.replicas (scheduled on kwok), a Service on
    // spec.listener.port, the admin token in a Secret, and the address in the status.
    const gatewayStatus = await eventually('llm-gateway publishes its address', () => {
      const s = get('inferencegateway', 'llm-gateway')?.status;
      return s?.address && s.adminUrl ? s : undefined;
    });
    assert.equal(gatewayStatus.address, `http://llm-gateway-gateway.${NS}.svc:8080`);
    assert.equal(gatewayStatus.adminUrl, `http://llm-gateway-gateway.${NS}.svc:9090`);
    const deployment = get('deployment', 'llm-gateway-gateway') as unknown as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string } } };
    };
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'llm-gateway-gateway');
    const service = get('service', 'llm-gateway-gateway') as unknown as {
      spec: { ports: { name: string; port: number }[] };
    };
    assert.deepEqual(
      service.spec.ports.map((p) => [p.name, p.port]),
      [
        ['http', 8080],
        ['admin', 9090],
      ],
    );
    const token = kubectl([
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
      get('deployment', 'llm-gateway-gateway')?.status?.availableReplicas === 1 ? true : undefined,
    );

    // The gateway, reading through its own ServiceAccount, serves the InferenceGateway's routes.
    const models = await until('gateway lists llama3-70b', async () => {
      const body = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as {
        data: { id: string }[];
      };
      return body.data.some((m) => m.id === 'llama3-70b') ? body : undefined;
    });
    assert.ok(models);

    for (const [name, p] of Object.entries(processes)) {
      const denied = p
        .output()
        .split('\n')
        .filter((line) => DENIED.test(line));
      console.log(`# ${name}: ${denied.length} denials in its output`);
      assert.deepEqual(denied, [], `${name} was denied`);
    }
    const events = auditEvents();
    if (events === undefined) {
      console.log(
        `# no audit log in this environment (started before it wrote one): denials counted from output`,
      );
    } else {
      for (const component of ['controller', 'worker', 'gateway'])
        assert.ok(
          events.some((e) => e.user.username.endsWith(`:${FULLNAME}-${component}`)),
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
    applyWorkerRole(
      PERMISSIONS.worker.map((r) =>
        r.apiGroup === 'apps' ? { ...r, verbs: r.verbs.filter((v) => v !== 'patch') } : r,
      ),
    );
    const before = processes.worker?.output().length ?? 0;
    ok(
      kubectl(
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
    await assertOurWorkflow('InferenceService', 'denied-service');
    const degraded = await eventually(
      'denied-service Degraded',
      () => {
        const c = condition(get('inferenceservice', 'denied-service'), 'Degraded');
        return c?.status === 'True' ? c : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnosis('InferenceService', 'denied-service')}`);
    });
    assert.equal(degraded.reason, 'KubernetesForbidden');
    assert.match(degraded.message, /cannot patch resource "deployments" in API group "apps"/);
    const events = auditEvents();
    if (events !== undefined) {
      const audited = denialsIn(events);
      console.log(`# audit: ${audited.length} denied after removing patch on deployments`);
      assert.ok(
        audited.some((d) =>
          d.includes(`${FULLNAME}-worker patch /apis/apps/v1/namespaces/${NS}/deployments/`),
        ),
        audited.join('\n'),
      );
    }
    const denied = (processes.worker?.output().slice(before) ?? '').split('\n').filter((l) => DENIED.test(l));
    console.log(`# worker: ${denied.length} output lines with the denial`);
    assert.ok(denied.length > 0, 'the worker logs the denied call');
    const deployments = kubectl([
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
  it('answers a chat request through the gateway under its ServiceAccount (replicas on the process runtime)', async () => {
    // The worker's role as the table has it again, after the test above took a verb out.
    applyWorkerRole(PERMISSIONS.worker);
    const dir = mkdtempSync(join(tmpdir(), 'infctl-helm-proc-'));
    // The process runtime also runs the InferenceGateway's own gateway, under the gateway's ServiceAccount.
    const { port } = await startProduct('chat-', CHAT_NS, CHAT_QUEUE, 'chat-gateway', {
      INFCTL_RUNTIME: 'process',
      INFCTL_PROCESS_DIR: join(dir, 'replicas'),
      INFCTL_GATEWAY_DIR: join(dir, 'gateways'),
      INFCTL_GATEWAY_KUBECONFIG: kubeconfigs.gateway!,
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
      ok(kubectl(['apply', '-n', CHAT_NS, '-f', '-'], stringify(doc)), `apply ${doc.kind}`);
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
      throw new Error(`${err.message}\n${diagnosis('InferenceService', 'chat-service', CHAT_NS)}`);
    });
    assert.ok(answer.choices.length > 0);
    // Deleted while the worker runs, so it stops the replica and gateway processes and releases the finalizers.
    ok(
      kubectl(['delete', 'inferenceservice,inferencegateway', '--all', '-n', CHAT_NS, '--timeout=60s']),
      'delete chat-service and chat-gateway',
    );
    await processes['chat-worker']?.kill();
    const deployedLog = join(dir, 'gateways', CHAT_NS, 'chat-gateway.log');
    const outputs: [string, string][] = [
      ...['chat-worker', 'chat-controller', 'chat-gateway'].map((n): [string, string] => [
        n,
        processes[n]?.output() ?? '',
      ]),
      ['chat-gateway (deployed)', existsSync(deployedLog) ? readFileSync(deployedLog, 'utf8') : ''],
    ];
    rmSync(dir, { recursive: true, force: true });
    for (const [name, output] of outputs) {
      const denied = output.split('\n').filter((line) => DENIED.test(line));
      console.log(`# ${name}: ${denied.length} denials in its output`);
      assert.deepEqual(denied, [], `${name} was denied`);
    }
  });
});
