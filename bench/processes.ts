/** Real processes for the benchmarks: simulators and an `infctl gateway` on a static route file. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from '../src/cli/dev/processes.ts';
import { startSimulator, type Simulator } from '../test/helpers/components.ts';

export { startSimulator, type Simulator };

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface GatewayProcess {
  url: string;
  pid: number;
  stop: () => Promise<void>;
  output: () => string;
}

export interface GatewayOptions {
  /** CPU cores to pin the gateway to (taskset -c). */
  cpus?: string;
  /** Run `npm run build`'s dist/ (plain JavaScript, as the image does) instead of the sources through tsx. */
  compiled?: boolean;
  /** With `compiled`: run under `node --cpu-prof`, one .cpuprofile in this directory when it stops. */
  profileDir?: string;
}

/** The command line of the infctl CLI for these options. */
function cliCommand(options: GatewayOptions = {}): string[] {
  if (options.profileDir && !options.compiled)
    throw new Error('a CPU profile needs the compiled CLI (--compiled)');
  const cli = options.compiled
    ? [
        'node',
        ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
        join('dist', 'cli', 'main.js'),
      ]
    : ['./bin/infctl'];
  return options.cpus ? ['taskset', '-c', options.cpus, ...cli] : cli;
}

/** `infctl gateway --config <file>`, from the sources or compiled, optionally pinned and profiled. */
export async function startGatewayProcess(
  routes: object,
  options: GatewayOptions = {},
): Promise<GatewayProcess> {
  const file = join(mkdtempSync(join(tmpdir(), 'infctl-bench-')), 'bench.routes.yaml');
  writeFileSync(file, stringify(routes));
  const port = await freePort();
  const args = ['gateway', '--config', file, '--port', String(port), '--host', '127.0.0.1'];
  const [command, ...prefix] = cliCommand(options);
  const child = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  await waitFor(
    'infctl gateway',
    () => /listening on/.test(output),
    60_000,
    () => child.exitCode === null,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      children.delete(child);
    },
  };
}
