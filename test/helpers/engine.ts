import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { envExports, type DevEnvironment } from '../../src/cli/dev/environment.ts';
import { waitFor } from '../../src/cli/dev/processes.ts';

export interface EngineProcess {
  child: ChildProcess;
  output: () => string;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `infctl worker` or `infctl controller` as a real process against the local environment: the checkout's
 * `bin/infctl` (TypeScript through tsx), or `command` (e.g. `['node', 'dist/cli/main.js']`, the compiled build).
 */
export async function startEngineProcess(
  env: DevEnvironment,
  args: string[],
  readyText: RegExp,
  extraEnv: Record<string, string> = {},
  command: string[] = ['./bin/infctl'],
): Promise<EngineProcess> {
  const [program, ...programArgs] = command as [string, ...string[]];
  const child = spawn(program, [...programArgs, ...args], {
    env: { ...process.env, ...envExports(env), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-50_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  running.add(child);
  child.on('exit', () => running.delete(child));
  await waitFor(
    `infctl ${args.join(' ')}`,
    () => readyText.test(output),
    120_000,
    () => child.exitCode === null,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  return {
    child,
    output: () => output,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        child.kill(signal);
      }
      await exited;
    },
  };
}

export const startWorker = (env: DevEnvironment, extraEnv: Record<string, string> = {}) =>
  startEngineProcess(env, ['worker'], /state: 'RUNNING'/, extraEnv);
export const startController = (
  env: DevEnvironment,
  pollIntervalMs = 2000,
  extraEnv: Record<string, string> = {},
  resyncMs = 15_000,
) =>
  startEngineProcess(
    env,
    ['controller', '--poll-interval', String(pollIntervalMs), '--resync', String(resyncMs)],
    /\[controller\] watching/,
    extraEnv,
  );

export async function temporalFor(env: DevEnvironment): Promise<Client> {
  const connection = await Connection.connect({ address: env.temporalAddress });
  return new Client({ connection, namespace: env.temporalNamespace });
}

/** Runs `infctl` against the local environment and returns its exit code and output. */
export function infctlFor(env: DevEnvironment) {
  return (...args: string[]) => {
    const r = spawnSync('./bin/infctl', args, {
      encoding: 'utf8',
      env: { ...process.env, ...envExports(env) },
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}

/**
 * `infctl` without blocking this process: needed when the test process itself serves something infctl's
 * command reaches (an in-process gateway's admin API).
 */
export function infctlAsyncFor(env: DevEnvironment) {
  return (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn('./bin/infctl', args, {
        env: { ...process.env, ...envExports(env) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
}
