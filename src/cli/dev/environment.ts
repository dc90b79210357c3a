import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadNodes, nodeManifests } from './nodes.ts';
import { stateDir } from './paths.ts';
import { freePorts, isAlive, startDetached, stopGroup, tcpOpen, waitFor } from './processes.ts';
import { binary, REPO_ROOT, requireTools, type ResolvedComponent } from '../../tools/components.ts';
import { ProcessRuntime } from '../../runtime/process/process-runtime.ts';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes.ts';

/** The temporal CLI's spelling of a search attribute type (the SDK's KEYWORD is the CLI's Keyword). */
const CLI_TYPES: Record<string, string> = { KEYWORD: 'Keyword' };
const cliType = (type: string): string => {
  const cli = CLI_TYPES[type];
  if (!cli) throw new Error(`search attribute type ${type} has no temporal CLI spelling here`);
  return cli;
};

const PORT_NAMES = [
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
type PortName = (typeof PORT_NAMES)[number];

/** The order processes start in; they stop in reverse. */
const PROCESS_ORDER = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'temporal',
  'redis',
] as const;
type ProcessName = (typeof PROCESS_ORDER)[number];

export interface DevEnvironment {
  stateDir: string;
  startedAt: string;
  ports: Record<PortName, number>;
  pids: Partial<Record<ProcessName, number>>;
  /** The command line of every process, so one can be restarted with the same ports and data. */
  commands: Partial<Record<ProcessName, string[]>>;
  kubeconfig: string;
  temporalAddress: string;
  temporalNamespace: string;
  temporalUi: string;
  redisUrl: string;
  runtime?: 'kubernetes' | 'process';
}

const envFile = (dir: string) => join(dir, 'env.json');

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

export function readEnvironment(dir = stateDir()): DevEnvironment | undefined {
  if (!existsSync(envFile(dir))) return undefined;
  return JSON.parse(readFileSync(envFile(dir), 'utf8')) as DevEnvironment;
}

export function runningProcesses(env: DevEnvironment): ProcessName[] {
  return PROCESS_ORDER.filter((name) => {
    const pid = env.pids[name];
    return pid !== undefined && isAlive(pid);
  });
}

export function envExports(env: DevEnvironment): Record<string, string> {
  return {
    KUBECONFIG: env.kubeconfig,
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: env.temporalNamespace,
    TEMPORAL_UI: env.temporalUi,
    REDIS_URL: env.redisUrl,
    INFCTL_STATE_DIR: env.stateDir,
    INFCTL_RUNTIME: env.runtime ?? 'kubernetes',
  };
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl is needed to create the local certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A local CA, the API server's serving certificate, the service-account key pair and an admin token. */
function createPki(dir: string): { token: string } {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  if (!existsSync(join(pki, 'ca.crt'))) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=infctl-dev-ca',
      ],
      pki,
    );
    writeFileSync(
      join(pki, 'san.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n',
    );
    openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'apiserver.key',
        '-out',
        'apiserver.csr',
        '-subj',
        '/CN=kube-apiserver',
      ],
      pki,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'apiserver.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'apiserver.crt',
        '-days',
        '3650',
        '-extfile',
        'san.cnf',
      ],
      pki,
    );
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(pki, 'admin.token'), randomBytes(24).toString('hex'));
  }
  const token = readFileSync(join(pki, 'admin.token'), 'utf8').trim();
  // The admin is a member of system:masters; everything else goes through RBAC.
  writeFileSync(join(pki, 'tokens.csv'), `${token},infctl-admin,infctl-admin,"system:masters"\n`);
  return { token };
}

function writeKubeconfig(dir: string, port: number, token: string): string {
  const path = join(dir, 'kubeconfig');
  const ca = readFileSync(join(dir, 'pki', 'ca.crt')).toString('base64');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'infctl-dev',
          cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': ca },
        },
      ],
      users: [{ name: 'infctl-admin', user: { token } }],
      contexts: [
        {
          name: 'infctl-dev',
          context: { cluster: 'infctl-dev', user: 'infctl-admin', namespace: 'default' },
        },
      ],
      'current-context': 'infctl-dev',
    }),
    { mode: 0o600 },
  );
  return path;
}

function temporalServing(tools: Record<string, ResolvedComponent>, address: string): boolean {
  const r = spawnSync(binary(tools, 'temporal'), ['operator', 'cluster', 'health', `--address=${address}`], {
    encoding: 'utf8',
  });
  return r.stdout.includes('SERVING');
}

function kubectl(
  tools: Record<string, ResolvedComponent>,
  kubeconfig: string,
  args: string[],
  input?: string,
) {
  return spawnSync(binary(tools, 'kubernetes', 'kubectl'), ['--kubeconfig', kubeconfig, ...args], {
    encoding: 'utf8',
    input,
    timeout: 120_000,
  });
}

export interface UpOptions {
  nodesFile?: string;
  /** Where the worker runs replicas: Deployments on the kwok nodes, or local processes. */
  runtime?: 'kubernetes' | 'process';
  log?: (line: string) => void;
}

/** `infctl dev up`: starts the local environment, or reports the one already running. */
export async function up(options: UpOptions = {}): Promise<{ env: DevEnvironment; started: boolean }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = stateDir();
  const existing = readEnvironment(dir);
  if (existing && runningProcesses(existing).length > 0) {
    return { env: existing, started: false };
  }
  const tools = requireTools();
  const nodes = loadNodes(
    options.nodesFile ?? process.env.INFCTL_DEV_NODES ?? join(REPO_ROOT, 'scripts', 'dev', 'nodes.yaml'),
  );

  // Each `dev up` starts from clean data; logs of the previous run are replaced.
  for (const sub of ['etcd', 'logs', 'kube', 'temporal.db', 'redis', 'env.json'])
    rmSync(join(dir, sub), { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'redis'), { recursive: true });

  const ports = await freePorts(PORT_NAMES);
  const { token } = createPki(dir);
  const kubeconfig = writeKubeconfig(dir, ports.apiserver, token);
  const env: DevEnvironment = {
    stateDir: dir,
    startedAt: new Date().toISOString(),
    ports,
    pids: {},
    commands: {},
    kubeconfig,
    temporalAddress: `127.0.0.1:${ports.temporal}`,
    temporalNamespace: 'default',
    temporalUi: `http://127.0.0.1:${ports.temporalUi}`,
    redisUrl: `redis://127.0.0.1:${ports.redis}`,
    runtime: options.runtime ?? 'kubernetes',
  };
  const save = () => writeFileSync(envFile(dir), `${JSON.stringify(env, null, 2)}\n`);
  const logFile = (name: string) => join(dir, 'logs', `${name}.log`);
  const start = (name: ProcessName, command: string, args: string[]) => {
    log(`==> starting ${name}`);
    env.pids[name] = startDetached(command, args, logFile(name));
    env.commands[name] = [command, ...args];
    save();
    const pid = env.pids[name] as number;
    return () => isAlive(pid);
  };
  const pki = join(dir, 'pki');
  const kubeReady = (path: string) => () => kubectl(tools, kubeconfig, ['get', '--raw', path]).status === 0;

  try {
    const etcdAlive = start('etcd', binary(tools, 'etcd'), [
      '--name=infctl-dev',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=infctl-dev=http://127.0.0.1:${ports.etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor(
      'etcd',
      async () =>
        (await fetch(`http://127.0.0.1:${ports.etcdClient}/health`).catch(() => undefined))?.ok === true,
      30_000,
      etcdAlive,
    );

    // ServiceAccounts' requests (the product's processes under the chart's RBAC) go to an audit log, so tests
    // can count denials; everything else is not logged.
    writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
    const apiAlive = start('kube-apiserver', binary(tools, 'kubernetes', 'kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${auditLogPath(dir)}`,
      '--audit-log-maxsize=100',
      '--audit-log-maxbackup=1',
      '--profiling=false',
      '--v=1',
    ]);
    await waitFor('kube-apiserver', kubeReady('/readyz'), 90_000, apiAlive);

    const commonKube = [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
    ];
    start('kube-controller-manager', binary(tools, 'kubernetes', 'kube-controller-manager'), [
      ...commonKube,
      `--secure-port=${ports.controllerManager}`,
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      '--controllers=*',
    ]);
    start('kube-scheduler', binary(tools, 'kubernetes', 'kube-scheduler'), [
      ...commonKube,
      `--secure-port=${ports.scheduler}`,
    ]);
    start('kwok', binary(tools, 'kwok'), [
      `--kubeconfig=${kubeconfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      // Pod IPs on loopback: the worker scrapes the replicas' /metrics at their pod IPs, and on this fake
      // cluster nothing must reach a private or public network (a loopback address refuses at once).
      '--cidr=127.244.0.1/16',
      '--node-ip=127.0.0.1',
      `--server-address=127.0.0.1:${ports.kwok}`,
      // Without node leases the node lifecycle controller declares the nodes unhealthy after its grace period
      // and marks every pod NotReady.
      '--node-lease-duration-seconds=40',
    ]);

    log(`==> creating ${nodes.nodes.length} kwok GPU nodes`);
    const applied = kubectl(
      tools,
      kubeconfig,
      ['apply', '-f', '-'],
      nodeManifests(nodes)
        .map((n) => `---\n${stringify(n)}`)
        .join(''),
    );
    if (applied.status !== 0) throw new Error(`creating nodes failed: ${applied.stderr}`);
    await waitFor(
      'kwok nodes Ready',
      () => {
        const r = kubectl(tools, kubeconfig, [
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
      () => kubectl(tools, kubeconfig, ['get', 'serviceaccount', 'default']).status === 0,
      60_000,
    );

    log('==> installing CRDs');
    const crds = kubectl(tools, kubeconfig, ['apply', '--server-side', '-f', join(REPO_ROOT, 'crds')]);
    if (crds.status !== 0) throw new Error(`installing CRDs failed: ${crds.stderr}`);
    const established = kubectl(tools, kubeconfig, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      '-f',
      join(REPO_ROOT, 'crds'),
    ]);
    if (established.status !== 0) throw new Error(`CRDs not established: ${established.stderr}`);

    const temporalAlive = start('temporal', binary(tools, 'temporal'), [
      'server',
      'start-dev',
      '--ip=127.0.0.1',
      `--port=${ports.temporal}`,
      `--ui-port=${ports.temporalUi}`,
      `--http-port=${ports.temporalHttp}`,
      `--metrics-port=${ports.temporalMetrics}`,
      `--db-filename=${join(dir, 'temporal.db')}`,
      '--namespace=default',
      '--log-level=warn',
      ...SEARCH_ATTRIBUTES.map((k) => `--search-attribute=${k.name}=${cliType(k.type)}`),
    ]);
    await waitFor('temporal', () => temporalServing(tools, env.temporalAddress), 90_000, temporalAlive);

    const redisAlive = start('redis', binary(tools, 'redis', 'redis-server'), [
      '--bind',
      '127.0.0.1',
      '--port',
      String(ports.redis),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      join(dir, 'redis'),
    ]);
    await waitFor(
      'redis',
      () =>
        spawnSync(binary(tools, 'redis', 'redis-cli'), ['-p', String(ports.redis), 'ping'], {
          encoding: 'utf8',
        }).stdout.trim() === 'PONG',
      30_000,
      redisAlive,
    );
    await waitFor('temporal UI', () => tcpOpen(ports.temporalUi), 30_000, temporalAlive);
  } catch (err) {
    log(`==> dev up failed: ${(err as Error).message}; stopping what started (logs in ${join(dir, 'logs')})`);
    await down();
    throw err;
  }
  return { env, started: true };
}

/**
 * `infctl dev restart temporal`: stops the Temporal dev server and starts it again on the same ports and the
 * same SQLite file (what a crash and restart of the server looks like to the worker and the controller).
 * `kill` sends SIGKILL instead of a graceful stop; `downForMs` keeps it stopped that long (an outage).
 */
export async function restartProcess(
  name: ProcessName,
  log: (line: string) => void = () => undefined,
  options: { kill?: boolean; downForMs?: number } = {},
): Promise<DevEnvironment> {
  const env = readEnvironment();
  const command = env?.commands?.[name];
  if (!env || !command) throw new Error(`no ${name} in the local environment (\`infctl dev up\` starts one)`);
  const pid = env.pids[name];
  if (pid !== undefined) {
    log(`==> stopping ${name} (pid ${pid}${options.kill ? ', SIGKILL' : ''})`);
    await stopGroup(pid, options.kill ? 0 : undefined);
  }
  if (options.downForMs) {
    log(`==> ${name} stays down for ${options.downForMs} ms`);
    await new Promise((r) => setTimeout(r, options.downForMs));
  }
  log(`==> starting ${name}`);
  const pidOf = startDetached(
    command[0] as string,
    command.slice(1),
    join(env.stateDir, 'logs', `${name}.log`),
  );
  env.pids[name] = pidOf;
  // Read again before writing: another restart may have changed another process's pid meanwhile.
  const latest = readEnvironment(env.stateDir) ?? env;
  latest.pids[name] = pidOf;
  writeFileSync(envFile(env.stateDir), `${JSON.stringify(latest, null, 2)}\n`);
  const alive = () => isAlive(env.pids[name] as number);
  if (name === 'temporal') {
    const tools = requireTools(['temporal']);
    await waitFor('temporal', () => temporalServing(tools, env.temporalAddress), 90_000, alive);
  } else if (name === 'kube-apiserver') {
    const tools = requireTools(['kubernetes']);
    const ready = () => kubectl(tools, env.kubeconfig, ['get', '--raw', '/readyz']).status === 0;
    await waitFor('kube-apiserver', ready, 90_000, alive);
  } else {
    await new Promise((r) => setTimeout(r, 1000));
    if (!alive())
      throw new Error(`${name} exited after restart; see ${join(env.stateDir, 'logs', `${name}.log`)}`);
  }
  return env;
}

export const RESTARTABLE: readonly string[] = PROCESS_ORDER;

/** `infctl dev down`: stops every process of the environment; leaves logs for inspection. */
export async function down(log?: (line: string) => void): Promise<ProcessName[]> {
  const env = readEnvironment();
  if (!env) return [];
  const stopped: ProcessName[] = [];
  // Replicas of the process runtime run detached from the worker; they go first.
  const replicas = join(env.stateDir, 'replicas');
  if (existsSync(replicas)) {
    const runtime = new ProcessRuntime({ dir: replicas, simulator: '' });
    for (const namespace of readdirSync(replicas))
      for (const owner of new Set(runtime.records(namespace).map((r) => r.owner))) {
        const names = runtime.deleteOwned(namespace, owner);
        if (names.length) log?.(`==> stopping replicas ${names.join(', ')}`);
      }
  }
  for (const name of [...PROCESS_ORDER].reverse()) {
    const pid = env.pids[name];
    if (pid === undefined || !isAlive(pid)) continue;
    log?.(`==> stopping ${name} (pid ${pid})`);
    await stopGroup(pid);
    stopped.push(name);
  }
  return stopped;
}

export function describe(env: DevEnvironment): string {
  const running = runningProcesses(env);
  const rows = PROCESS_ORDER.map(
    (name) =>
      `  ${name.padEnd(24)} ${running.includes(name) ? `running (pid ${env.pids[name]})` : 'stopped'}`,
  );
  return [
    `local environment in ${env.stateDir} (started ${env.startedAt})`,
    ...rows,
    '',
    `  Kubernetes     KUBECONFIG=${env.kubeconfig} (API https://127.0.0.1:${env.ports.apiserver})`,
    `  Temporal       ${env.temporalAddress} (namespace ${env.temporalNamespace})`,
    `  Temporal UI    ${env.temporalUi}`,
    `  Redis          ${env.redisUrl}`,
    `  Runtime        ${env.runtime ?? 'kubernetes'}${env.runtime === 'process' ? ` (replicas in ${join(env.stateDir, 'replicas')})` : ''}`,
    `  Logs           ${join(env.stateDir, 'logs')}`,
  ].join('\n');
}
