/**
 * Starts the real components a test file needs, once per file, and stops them afterwards. A missing component
 * fails the run with the command that builds or installs it; nothing is skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  down,
  readEnvironment,
  runningProcesses,
  up,
  type DevEnvironment,
} from '../../src/cli/dev/environment.ts';
import { freePort, tcpOpen, waitFor } from '../../src/cli/dev/processes.ts';
import { binary, requireTools, type ResolvedComponent } from '../../src/tools/components.ts';

const tools: Record<string, ResolvedComponent> = {};

/** The named components, located once; a missing one fails with the command that provides it. */
export function components(...names: string[]): Record<string, ResolvedComponent> {
  const wanted = names.filter((n) => !(n in tools));
  if (wanted.length > 0) Object.assign(tools, requireTools(wanted));
  return tools;
}

let startedHere = false;

/**
 * The shared local environment: reused when `infctl dev up` (or `make test`) already started it, otherwise
 * started here; call {@link releaseDevEnvironment} from the file's `after` hook to stop what was started here.
 */
export async function useDevEnvironment(): Promise<DevEnvironment> {
  const existing = readEnvironment();
  if (
    existing &&
    runningProcesses(existing).length === Object.keys(existing.pids).length &&
    runningProcesses(existing).length > 0
  ) {
    return existing;
  }
  components('etcd', 'kubernetes', 'kwok', 'temporal', 'redis');
  const { env, started } = await up({ log: () => undefined });
  startedHere = started;
  return env;
}

export async function releaseDevEnvironment(): Promise<void> {
  if (startedHere) await down();
  startedHere = false;
}

/** Children still running when the test process exits are killed, whatever the tests did. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface Managed {
  child: ChildProcess;
  output: () => string;
}

function spawnManaged(command: string, args: string[], env?: NodeJS.ProcessEnv): Managed {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // The test process may end while servers still run; they must not keep it alive (the exit hook kills them).
  child.unref();
  for (const stream of [child.stdout, child.stderr])
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  running.add(child);
  child.on('exit', () => running.delete(child));
  return { child, output: () => output };
}

export interface Simulator {
  url: string;
  port: number;
  model: string;
  stop: () => void;
  output: () => string;
}

/**
 * Starts llm-d-inference-sim. It exits with code 0 on an unknown flag, so the helper checks it stays up and
 * serves /health before returning.
 */
export async function startSimulator(
  options: { model?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<Simulator> {
  const port = await freePort();
  const model = options.model ?? 'llama3-70b';
  const args = ['--port', String(port), '--model', model, '--force-dummy-tokenizer', ...(options.args ?? [])];
  // The simulator's KV cache needs the pod IP it would have in a cluster.
  const sim = spawnManaged(binary(components('llm-d-inference-sim'), 'llm-d-inference-sim'), args, {
    ...process.env,
    POD_IP: '127.0.0.1',
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `llm-d-inference-sim ${args.join(' ')}`,
    async () => (await fetch(`${url}/health`).catch(() => undefined))?.ok === true,
    30_000,
    () => sim.child.exitCode === null,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${sim.output()}`);
  });
  return { url, port, model, stop: () => sim.child.kill('SIGTERM'), output: sim.output };
}

export interface RedisServer {
  url: string;
  port: number;
  stop: () => void;
}

/** A private redis-server on a free loopback port, with no persistence. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'infctl-redis-'));
  const redis = spawnManaged(binary(components('redis'), 'redis', 'redis-server'), [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ]);
  redis.child.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  await waitFor(
    'redis-server',
    () => tcpOpen(port),
    15_000,
    () => redis.child.exitCode === null,
  );
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => redis.child.kill('SIGTERM') };
}
