import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, requireTools } from '../../tools/components.ts';
import { ProcessRuntime } from '../../runtime/process/process-runtime.ts';
import { ProcessGatewayRuntime } from '../../runtime/process/gateway-processes.ts';
import {
  devProcess,
  PORT_NAMES,
  PROCESS_ORDER,
  type DevContext,
  type PortName,
  type ProcessName,
} from './dev-processes.ts';
import { loadNodes } from './nodes.ts';
import { stateDir } from './paths.ts';
import { createPki, writeKubeconfig } from './pki.ts';
import { freePorts, isAlive, startDetached, stopGroup, waitFor } from './processes.ts';

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
  const context: DevContext = { dir, ports, kubeconfig, tools, log };
  try {
    for (const name of PROCESS_ORDER) {
      const row = devProcess(name);
      const ready = row.ready;
      log(`==> starting ${name}`);
      const [command, args] = row.command(context);
      const pid = startDetached(command, args, join(dir, 'logs', `${name}.log`));
      env.pids[name] = pid;
      env.commands[name] = [command, ...args];
      writeFileSync(envFile(dir), `${JSON.stringify(env, null, 2)}\n`);
      if (ready)
        await waitFor(
          name,
          () => ready.check(context),
          ready.timeoutMs,
          () => isAlive(pid),
        );
      await row.after?.(context, nodes);
    }
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
  const row = devProcess(name);
  const ready = row.ready;
  if (ready) {
    const context: DevContext = {
      dir: env.stateDir,
      ports: env.ports,
      kubeconfig: env.kubeconfig,
      tools: requireTools([row.component]),
      log,
    };
    await waitFor(name, () => ready.check(context), ready.timeoutMs, alive);
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
  // So do the process runtime's gateways.
  const gateways = new ProcessGatewayRuntime({ dir: join(env.stateDir, 'gateways'), infctl: [] });
  for (const g of gateways.gateways()) {
    const names = await gateways.deleteGateway(g.namespace, g.name);
    if (names.length) log?.(`==> stopping gateway ${g.namespace}/${g.name}`);
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
