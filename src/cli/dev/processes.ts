import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/** A free TCP port on the loopback interface, chosen by the kernel so it never collides with a running service. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function freePorts<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
  const out = {} as Record<K, number>;
  const used = new Set<number>();
  for (const name of names) {
    let port = await freePort();
    while (used.has(port)) port = await freePort();
    used.add(port);
    out[name] = port;
  }
  return out;
}

/** Starts a long-running server in its own process group, with stdout and stderr appended to `logFile`. */
export function startDetached(
  command: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie answers signal 0 until its parent reaps it; when that parent is this process (tests start the
  // environment in-process) waiting for it to disappear would never end.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs` (at once for 0). Resolves when the leader is gone. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!isAlive(pid)) return;
  if (graceMs > 0) signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signal('SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

export function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` until it returns true; fails with `what` and the time waited. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  alive?: () => boolean,
): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (alive && !alive()) throw new Error(`${what}: the process exited`);
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`${what}: not ready after ${Math.round((Date.now() - started) / 1000)}s`);
}
