/**
 * The Rust routers we compare against, from PyPI at pinned versions: each in its own venv in the tools cache
 * (bench only; `make test` never installs them). Also the CPU time of a process tree, from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '../src/cli/dev/processes.ts';
import { toolsDir } from '../src/tools/components.ts';

const PEERS = {
  'vllm-router': { version: '0.1.17', args: [] as string[] },
  'sglang-router': { version: '0.3.2', args: ['launch'] },
} as const;
export type PeerName = keyof typeof PEERS;

/** The peer's binary, installed into `<tools>/<name>-<version>` (a venv) when missing. */
function installPeer(name: PeerName): string {
  const { version } = PEERS[name];
  const dir = join(toolsDir(), `${name}-${version}`);
  const binary = join(dir, 'bin', name);
  if (existsSync(binary)) return binary;
  for (const [command, args] of [
    ['python3', ['-m', 'venv', dir]],
    [join(dir, 'bin', 'pip'), ['install', '-q', `${name}==${version}`]],
  ] as const) {
    const r = spawnSync(command, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`installing ${name}==${version}: ${command} exited ${r.status}`);
  }
  return binary;
}

export interface PeerProcess {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/**
 * `<peer> --worker-urls ... --policy <policy>` on a free port, ready when it answers HTTP; optionally pinned to
 * CPU cores with taskset (as bench/overhead.ts pins our gateway).
 */
export async function startPeer(
  name: PeerName,
  policy: string,
  workers: string[],
  options: { cpus?: string } = {},
): Promise<PeerProcess> {
  const binary = installPeer(name);
  const port = await freePort();
  const prometheus = await freePort();
  const args = [
    ...PEERS[name].args,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--prometheus-port',
    String(prometheus),
    '--policy',
    policy,
    '--worker-urls',
    ...workers,
  ];
  const child: ChildProcess = options.cpus
    ? spawn('taskset', ['-c', options.cpus, binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-10_000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-10_000)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `${name} ${policy}`,
    () =>
      fetch(`${url}/v1/models`).then(
        () => true,
        () => false,
      ),
    60_000,
    () => child.exitCode === null,
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${output}`);
  });
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** User + system CPU seconds of `pid` and every descendant alive now. */
export function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process exited while we listed it.
    }
  }
  let ticks = 0;
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.pop()!;
    ticks += stats.get(p)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) queue.push(child);
  }
  return ticks / 100;
}
