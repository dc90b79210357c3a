/** What the process runtimes (replicas, gateways) share: liveness by pid, free ports, /health. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function alive(pid: number): boolean {
  // 0 marks a replica being started (its record is written before the spawn); signal 0 to pid 0 would
  // test our own process group.
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) still answers signal 0; its /proc stat says Z.
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

export async function freePort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (!taken.has(port)) return port;
  }
}

export async function healthy(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then(
    async (res) => {
      await res.body?.cancel();
      return res.ok;
    },
    () => false,
  );
}

/** Whether nothing listens on 127.0.0.1:port (a bind succeeds). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** SIGTERM to a detached process's group (it and its children), or to it alone when it leads none. */
export function terminate(pid: number): void {
  // pid 0 would signal our own process group.
  if (!(pid > 0)) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
