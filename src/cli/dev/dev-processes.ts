/**
 * The local environment's processes, one row each, in the order they start (they stop in reverse): the
 * command line, what "ready" means, and what runs once it is ready before the next one starts.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { binary, REPO_ROOT, type ResolvedComponent } from '../../tools/components.ts';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes.ts';
import { nodeManifests, type NodesFile } from './nodes.ts';
import { tcpOpen, waitFor } from './processes.ts';

export const PORT_NAMES = [
  'etcdClient',
  'etcdPeer',
  'apiserver',
  'controllerManager',
  'scheduler',
  'kwok',
  'temporal',
  'temporalUi',
  'temporalHttp',
  'temporalMetrics',
  'redis',
] as const;
export type PortName = (typeof PORT_NAMES)[number];

/** What a row's command and checks see. */
export interface DevContext {
  /** The state folder: data, logs, pki. */
  dir: string;
  ports: Record<PortName, number>;
  kubeconfig: string;
  tools: Record<string, ResolvedComponent>;
  log: (line: string) => void;
}

interface DevProcess {
  /** The component (src/tools) its binary comes from. */
  component: string;
  command: (c: DevContext) => [string, string[]];
  /** Waited for after a start or a restart, while the process stays alive. */
  ready?: { check: (c: DevContext) => boolean | Promise<boolean>; timeoutMs: number };
  /** Runs once after `dev up` started it (and it is ready), before the next row starts. */
  after?: (c: DevContext, nodes: NodesFile) => Promise<void>;
}

/** The API server's audit log of ServiceAccount requests (one JSON event a line). */
export const auditLogPath = (dir: string) => join(dir, 'logs', 'audit.log');

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`;

/** The temporal CLI's spelling of a search attribute type (the SDK's KEYWORD is the CLI's Keyword). */
const CLI_TYPES: Record<string, string> = { KEYWORD: 'Keyword' };
const cliType = (type: string): string => {
  const cli = CLI_TYPES[type];
  if (!cli) throw new Error(`search attribute type ${type} has no temporal CLI spelling here`);
  return cli;
};

function kubectl(c: DevContext, args: string[], input?: string) {
  return spawnSync(binary(c.tools, 'kubernetes', 'kubectl'), ['--kubeconfig', c.kubeconfig, ...args], {
    encoding: 'utf8',
    input,
    timeout: 120_000,
  });
}

const kubeReady = (c: DevContext) => kubectl(c, ['get', '--raw', '/readyz']).status === 0;

function temporalServing(c: DevContext): boolean {
  const address = `127.0.0.1:${c.ports.temporal}`;
  const r = spawnSync(
    binary(c.tools, 'temporal'),
    ['operator', 'cluster', 'health', `--address=${address}`],
    {
      encoding: 'utf8',
    },
  );
  return r.stdout.includes('SERVING');
}

const commonKube = (c: DevContext) => [
  `--kubeconfig=${c.kubeconfig}`,
  `--authentication-kubeconfig=${c.kubeconfig}`,
  `--authorization-kubeconfig=${c.kubeconfig}`,
  '--leader-elect=false',
  '--bind-address=127.0.0.1',
];

/** The kwok GPU nodes, Ready, the default ServiceAccount, and the CRDs, Established. */
async function nodesAndCrds(c: DevContext, nodes: NodesFile): Promise<void> {
  c.log(`==> creating ${nodes.nodes.length} kwok GPU nodes`);
  const applied = kubectl(
    c,
    ['apply', '-f', '-'],
    nodeManifests(nodes)
      .map((n) => `---\n${stringify(n)}`)
      .join(''),
  );
  if (applied.status !== 0) throw new Error(`creating nodes failed: ${applied.stderr}`);
  await waitFor(
    'kwok nodes Ready',
    () => {
      const r = kubectl(c, [
        'get',
        'nodes',
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      const statuses = r.stdout.trim().split('\n').filter(Boolean);
      return statuses.length === nodes.nodes.length && statuses.every((s) => s === 'True');
    },
    60_000,
  );
  await waitFor(
    'default service account',
    () => kubectl(c, ['get', 'serviceaccount', 'default']).status === 0,
    60_000,
  );

  c.log('==> installing CRDs');
  const crds = kubectl(c, ['apply', '--server-side', '-f', join(REPO_ROOT, 'crds')]);
  if (crds.status !== 0) throw new Error(`installing CRDs failed: ${crds.stderr}`);
  const established = kubectl(c, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    '-f',
    join(REPO_ROOT, 'crds'),
  ]);
  if (established.status !== 0) throw new Error(`CRDs not established: ${established.stderr}`);
}

const pki = (c: DevContext, file: string) => join(c.dir, 'pki', file);

export const DEV_PROCESSES = {
  etcd: {
    component: 'etcd',
    command: (c) => [
      binary(c.tools, 'etcd'),
      [
        '--name=infctl-dev',
        `--data-dir=${join(c.dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${c.ports.etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${c.ports.etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${c.ports.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${c.ports.etcdPeer}`,
        `--initial-cluster=infctl-dev=http://127.0.0.1:${c.ports.etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
    ],
    ready: {
      check: async (c) =>
        (await fetch(`http://127.0.0.1:${c.ports.etcdClient}/health`).catch(() => undefined))?.ok === true,
      timeoutMs: 30_000,
    },
  },
  'kube-apiserver': {
    component: 'kubernetes',
    command: (c) => {
      // ServiceAccounts' requests (the product's processes under the chart's RBAC) go to an audit log, so
      // tests can count denials; everything else is not logged.
      writeFileSync(join(c.dir, 'audit-policy.yaml'), AUDIT_POLICY);
      return [
        binary(c.tools, 'kubernetes', 'kube-apiserver'),
        [
          `--etcd-servers=http://127.0.0.1:${c.ports.etcdClient}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${c.ports.apiserver}`,
          `--tls-cert-file=${pki(c, 'apiserver.crt')}`,
          `--tls-private-key-file=${pki(c, 'apiserver.key')}`,
          `--client-ca-file=${pki(c, 'ca.crt')}`,
          `--token-auth-file=${pki(c, 'tokens.csv')}`,
          '--authorization-mode=RBAC',
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${pki(c, 'sa.pub')}`,
          `--service-account-signing-key-file=${pki(c, 'sa.key')}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          '--allow-privileged=true',
          '--enable-priority-and-fairness=false',
          `--audit-policy-file=${join(c.dir, 'audit-policy.yaml')}`,
          `--audit-log-path=${auditLogPath(c.dir)}`,
          '--audit-log-maxsize=100',
          '--audit-log-maxbackup=1',
          '--profiling=false',
          '--v=1',
        ],
      ];
    },
    ready: { check: kubeReady, timeoutMs: 90_000 },
  },
  'kube-controller-manager': {
    component: 'kubernetes',
    command: (c) => [
      binary(c.tools, 'kubernetes', 'kube-controller-manager'),
      [
        ...commonKube(c),
        `--secure-port=${c.ports.controllerManager}`,
        `--service-account-private-key-file=${pki(c, 'sa.key')}`,
        `--root-ca-file=${pki(c, 'ca.crt')}`,
        '--use-service-account-credentials=false',
        '--controllers=*',
      ],
    ],
  },
  'kube-scheduler': {
    component: 'kubernetes',
    command: (c) => [
      binary(c.tools, 'kubernetes', 'kube-scheduler'),
      [...commonKube(c), `--secure-port=${c.ports.scheduler}`],
    ],
  },
  kwok: {
    component: 'kwok',
    command: (c) => [
      binary(c.tools, 'kwok'),
      [
        `--kubeconfig=${c.kubeconfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        // Pod IPs on loopback: the worker scrapes the replicas' /metrics at their pod IPs, and on this fake
        // cluster nothing must reach a private or public network (a loopback address refuses at once).
        '--cidr=127.244.0.1/16',
        '--node-ip=127.0.0.1',
        `--server-address=127.0.0.1:${c.ports.kwok}`,
        // Without node leases the node lifecycle controller declares the nodes unhealthy after its grace
        // period and marks every pod NotReady.
        '--node-lease-duration-seconds=40',
      ],
    ],
    after: nodesAndCrds,
  },
  temporal: {
    component: 'temporal',
    command: (c) => [
      binary(c.tools, 'temporal'),
      [
        'server',
        'start-dev',
        '--ip=127.0.0.1',
        `--port=${c.ports.temporal}`,
        `--ui-port=${c.ports.temporalUi}`,
        `--http-port=${c.ports.temporalHttp}`,
        `--metrics-port=${c.ports.temporalMetrics}`,
        `--db-filename=${join(c.dir, 'temporal.db')}`,
        // A write-ahead log instead of SQLite's default rollback journal with FULL sync (a journal file created,
        // synced and deleted per transaction): half the dev server's CPU at 1,000 resources, and a killed
        // server loses nothing either way (bench/RESULTS.md, "Scale").
        '--sqlite-pragma=journal_mode=wal',
        '--sqlite-pragma=synchronous=NORMAL',
        '--namespace=default',
        '--log-level=warn',
        ...SEARCH_ATTRIBUTES.map((k) => `--search-attribute=${k.name}=${cliType(k.type)}`),
      ],
    ],
    ready: { check: temporalServing, timeoutMs: 90_000 },
    after: (c) => waitFor('temporal UI', () => tcpOpen(c.ports.temporalUi), 30_000),
  },
  redis: {
    component: 'redis',
    command: (c) => [
      binary(c.tools, 'redis', 'redis-server'),
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(c.ports.redis),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        join(c.dir, 'redis'),
      ],
    ],
    ready: {
      check: (c) =>
        spawnSync(binary(c.tools, 'redis', 'redis-cli'), ['-p', String(c.ports.redis), 'ping'], {
          encoding: 'utf8',
        }).stdout.trim() === 'PONG',
      timeoutMs: 30_000,
    },
  },
} satisfies Record<string, DevProcess>;

export type ProcessName = keyof typeof DEV_PROCESSES;

/** The order processes start in; they stop in reverse. */
export const PROCESS_ORDER = Object.keys(DEV_PROCESSES) as ProcessName[];

/** A row of the table, by name. */
export const devProcess = (name: ProcessName): DevProcess => DEV_PROCESSES[name];
