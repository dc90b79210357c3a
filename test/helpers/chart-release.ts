/**
 * One release of the Helm chart on the local cluster for a test file, and the product run as processes under
 * the chart's ServiceAccounts: a kubeconfig per component with a minted token, so every call they make is
 * authorized by the ClusterRoles generated from src/rbac/permissions.ts. Names carry the test's pid, so each
 * file has its own release, namespaces and task queues.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { auditLogPath } from '../../src/cli/dev/dev-processes.ts';
import { policyRules } from '../../src/rbac/cluster-roles.ts';
import type { PermissionRow } from '../../src/rbac/permissions.ts';
import { workflowIdFor } from '../../src/temporal/start.ts';
import { releaseDevEnvironment, useDevEnvironment } from './components.ts';
import {
  startController,
  startEngineProcess,
  startWorker,
  temporalFor,
  type EngineProcess,
} from './engine.ts';
import { helmFor, ok } from './helm.ts';
import { kubectlFor, type KubectlResult } from './kubectl.ts';

/** An output line or an error that says the API server refused a call. */
export const DENIED = /forbidden|\b403\b/i;

export interface AuditEvent {
  user: { username: string };
  verb: string;
  requestURI: string;
  responseStatus?: { code: number };
}

export const denialsIn = (events: AuditEvent[]) =>
  events
    .filter((e) => e.responseStatus?.code === 403)
    .map((e) => `${e.user.username} ${e.verb} ${e.requestURI}`);

export interface Resource {
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

export const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

/** Asserts that none of `outputs` (name, text) has a line with a denial, printing the count of each. */
export function assertNoDenials(outputs: [string, string][]): void {
  for (const [name, output] of outputs) {
    const denied = output.split('\n').filter((line) => DENIED.test(line));
    console.log(`# ${name}: ${denied.length} denials in its output`);
    assert.deepEqual(denied, [], `${name} was denied`);
  }
}

export class ChartRelease {
  readonly release: string;
  /** The chart's fullname: the prefix of its ServiceAccounts and ClusterRoles. */
  readonly fullname: string;
  /** Where the chart is installed. */
  readonly namespace: string;
  env!: DevEnvironment;
  kubectl!: (args: string[], input?: string) => KubectlResult;
  helm!: ReturnType<typeof helmFor>;
  temporal!: Client;
  /** Helm's cache and config, and the minted kubeconfigs. */
  home!: string;
  readonly processes: Record<string, EngineProcess> = {};
  readonly kubeconfigs: Record<string, string> = {};

  /** `name` prefixes the release and namespaces; `namespaces` are where the test applies its resources. */
  constructor(
    name: string,
    private readonly namespaces: string[],
  ) {
    this.release = `${name}-${process.pid}`;
    this.fullname = `${this.release}-inference-controller`;
    this.namespace = `e2e-${name}-chart-${process.pid}`;
  }

  /** The test's before(): the environment, helm, a Temporal client and the namespaces. */
  async setUp(): Promise<void> {
    this.env = await useDevEnvironment();
    this.kubectl = kubectlFor(this.env);
    this.home = mkdtempSync(join(tmpdir(), 'infctl-helm-'));
    this.helm = helmFor(this.env, this.home);
    this.temporal = await temporalFor(this.env);
    for (const ns of [this.namespace, ...this.namespaces])
      ok(this.kubectl(['create', 'namespace', ns]), `namespace ${ns}`);
  }

  /** The test's after(): stops the processes, uninstalls the release and deletes the namespaces. */
  async tearDown(): Promise<void> {
    for (const p of Object.values(this.processes)) await p.kill();
    for (const ns of this.namespaces) this.kubectl?.(['delete', 'namespace', ns, '--wait=false']);
    this.helm?.(['uninstall', this.release, '-n', this.namespace, '--wait=false']);
    this.kubectl?.(['delete', 'namespace', this.namespace, '--wait=false']);
    if (this.home) rmSync(this.home, { recursive: true, force: true });
    await this.temporal?.connection.close();
    await releaseDevEnvironment();
  }

  /** `helm install` of the chart in its namespace, Temporal at the environment's address. */
  install(chartDir: string, args: string[] = []): KubectlResult {
    return this.helm([
      'install',
      this.release,
      chartDir,
      '-n',
      this.namespace,
      '--set',
      `temporal.address=${this.env.temporalAddress}`,
      ...args,
    ]);
  }

  /** A kubeconfig for each component's ServiceAccount: the local cluster, authenticated by a minted token. */
  mintKubeconfigs(): void {
    const admin = parse(readFileSync(this.env.kubeconfig, 'utf8')) as { clusters: { name: string }[] };
    for (const component of ['controller', 'worker', 'gateway']) {
      const token = this.kubectl([
        'create',
        'token',
        `${this.fullname}-${component}`,
        '-n',
        this.namespace,
        '--duration=2h',
      ]);
      ok(token, `token for ${component}`);
      const file = join(this.home, `${component}.kubeconfig`);
      writeFileSync(
        file,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: admin.clusters,
          users: [{ name: component, user: { token: token.stdout.trim() } }],
          contexts: [{ name: component, context: { cluster: admin.clusters[0]!.name, user: component } }],
          'current-context': component,
        }),
      );
      this.kubeconfigs[component] = file;
    }
  }

  /**
   * The controller, a worker and the gateway under the chart's ServiceAccounts, on their own task queue with the
   * controller and gateway confined to `namespace`, so no other test's workflows run here; `prefix` names them.
   */
  async startProduct(
    prefix: string,
    namespace: string,
    queue: string,
    gateway: string,
    workerEnv: Record<string, string> = {},
  ): Promise<{ port: string }> {
    this.processes[`${prefix}worker`] = await startWorker(this.env, {
      KUBECONFIG: this.kubeconfigs.worker!,
      TEMPORAL_TASK_QUEUE: queue,
      INFCTL_GATEWAY_CLUSTER_ROLE: `${this.fullname}-gateway`,
      ...workerEnv,
    });
    this.processes[`${prefix}controller`] = await startController(this.env, 1000, {
      KUBECONFIG: this.kubeconfigs.controller!,
      TEMPORAL_TASK_QUEUE: queue,
      INFCTL_WATCH_NAMESPACE: namespace,
    });
    const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
    const gw = await startEngineProcess(
      this.env,
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
      { KUBECONFIG: this.kubeconfigs.gateway! },
    );
    this.processes[`${prefix}gateway`] = gw;
    return { port: listening.exec(gw.output())?.[1] as string };
  }

  /** The worker's ClusterRole, regenerated from `rows` (the table's, or the table's with a verb taken out). */
  applyWorkerRole(rows: readonly PermissionRow[]): void {
    ok(
      this.kubectl(
        ['apply', '-f', '-'],
        stringify({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: `${this.fullname}-worker` },
          rules: policyRules(rows, this.fullname),
        }),
      ),
      'apply the worker ClusterRole',
    );
  }

  /** The audit events of the chart's ServiceAccounts, or undefined when the environment writes no audit log. */
  auditEvents(): AuditEvent[] | undefined {
    const file = auditLogPath(this.env.stateDir);
    if (!existsSync(file)) return undefined;
    const prefix = `system:serviceaccount:${this.namespace}:`;
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes(prefix))
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((e) => e.user.username.startsWith(prefix));
  }

  get(kind: string, name: string, namespace: string): Resource | undefined {
    const r = this.kubectl(['get', kind, name, '-n', namespace, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as Resource) : undefined;
  }

  /** What a failed wait shows: the resource's status and the end of each process's output. */
  diagnosis(kind: string, name: string, namespace: string): string {
    return [
      JSON.stringify(this.get(kind.toLowerCase(), name, namespace)?.status ?? 'not found', null, 1),
      ...Object.entries(this.processes).map(([p, e]) => `--- ${p}:\n${e.output().slice(-3000)}`),
    ].join('\n');
  }

  /**
   * Fails unless the resource's workflow runs on `queue`: a controller of another test running at the same
   * time (they watch every namespace) may have started it first, and then that test's worker, not the one under
   * the chart's RBAC, does the work.
   */
  async assertOurWorkflow(kind: string, namespace: string, name: string, queue: string): Promise<void> {
    const id = workflowIdFor(kind, namespace, name);
    let described: { taskQueue: string } | undefined;
    for (const deadline = Date.now() + 30_000; !described && Date.now() < deadline;) {
      described = await this.temporal.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      if (!described) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(described, `workflow ${id} was never started`);
    assert.equal(
      described.taskQueue,
      queue,
      `${id} runs on task queue ${described.taskQueue}: another controller started it (run this file alone)`,
    );
  }
}
