/**
 * `make demo` (scripts/demo.sh) as a test fixture: the five original examples applied on the process runtime,
 * the worker, controller and gateway running, and a hot-spot load that makes the InferenceCache loop decide.
 * Stopping it runs the demo's own cleanup (it deletes what it applied and stops what it started).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../../src/tools/components.ts';

export interface RunningDemo {
  child: ChildProcess;
  output: () => string;
  /** True while the script runs; a demo that exited early fails the waits with its output. */
  alive: () => boolean;
  stop: () => Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

export function startDemo(env: Record<string, string> = {}): RunningDemo {
  const child = spawn('./scripts/demo.sh', [], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: stopping it signals the script and its foreground commands, not this test.
    detached: true,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-30_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  running.add(child);
  child.on('exit', () => running.delete(child));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => output,
    alive,
    stop: async () => {
      if (!alive()) return;
      const exited = new Promise((r) => child.once('exit', r));
      // The group: the script's trap runs once its foreground command (a sleep, a kubectl) is gone too.
      process.kill(-(child.pid as number), 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 120_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
