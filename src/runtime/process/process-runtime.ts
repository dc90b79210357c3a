import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ServingGroup, ServingPlan } from '../../api/index.ts';
import { engineCommand } from '../engine-command.ts';
import {
  observationOf,
  type AppliedReplicas,
  type ReplicaEndpoint,
  type ReplicaObservation,
  type ReplicaRuntime,
  type RolloutHooks,
  type RolloutOutcome,
} from '../replica-runtime.ts';
import { alive, freePort, healthy } from './local-processes.ts';

/**
 * The process runtime: every replica of an InferenceService is a local process — llm-d-inference-sim for the
 * simulator engine, `vllm serve` with the rendered arguments for the real one. Each replica has a state file
 * (pid, port, plan digest) in a folder, so an activity retried after a worker crash adopts the processes that
 * run instead of starting duplicates. Replicas are detached: they outlive the worker that started them.
 */

export interface ReplicaRecord {
  name: string;
  namespace: string;
  owner: string;
  role: ServingGroup['role'];
  pid: number;
  port: number;
  digest: string;
  revision: number;
  command: string[];
  /** The plan's `runtime.env`, kept so a replica restarted by `observe` runs with it again. */
  env: Record<string, string>;
  startedAt: string;
  restarts: number;
}

export interface ProcessRuntimeOptions {
  /** Where state files and replica logs live. */
  dir: string;
  /** The simulator binary. */
  simulator: string;
  /** The vLLM executable (`vllm`). */
  vllm?: string;
}

/** A running process whose command line is exactly `command` (a replica whose worker died mid-start). */
function runningWith(command: readonly string[]): number | undefined {
  const wanted = command.join('\0');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '');
      if (argv === wanted && alive(Number(entry))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export class ProcessRuntime implements ReplicaRuntime {
  constructor(private readonly options: ProcessRuntimeOptions) {}

  private folder(namespace: string): string {
    const dir = join(this.options.dir, namespace);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  private file(namespace: string, name: string): string {
    return join(this.folder(namespace), `${name}.json`);
  }

  records(namespace: string, owner?: string): ReplicaRecord[] {
    const dir = this.folder(namespace);
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => this.adopted(JSON.parse(readFileSync(join(dir, f), 'utf8')) as ReplicaRecord))
      .filter((r) => owner === undefined || r.owner === owner)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A record whose process is gone, while a process with its exact command line runs: that process is it. */
  private adopted(record: ReplicaRecord): ReplicaRecord {
    if (alive(record.pid)) return record;
    const pid = runningWith(record.command);
    if (pid === undefined) return record;
    const found = { ...record, pid };
    writeFileSync(this.file(record.namespace, record.name), JSON.stringify(found, null, 2));
    return found;
  }

  private takenPorts(): Set<number> {
    const ports = new Set<number>();
    if (!existsSync(this.options.dir)) return ports;
    for (const ns of readdirSync(this.options.dir)) for (const r of this.records(ns)) ports.add(r.port);
    return ports;
  }

  /** The command line of one replica: the shared engine command, with this machine's executables and port. */
  commandFor(plan: ServingPlan, group: ServingGroup, port: number): string[] {
    return engineCommand(plan, group, {
      executables: { vllm: this.options.vllm ?? 'vllm', simulator: this.options.simulator },
      // A local replica stays on loopback.
      listen: { host: '127.0.0.1', port },
    });
  }

  private async start(record: Omit<ReplicaRecord, 'pid' | 'startedAt'>): Promise<ReplicaRecord> {
    const log = openSync(join(this.folder(record.namespace), `${record.name}.log`), 'a');
    const [command = '', ...args] = record.command;
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', log, log],
      // Dev mode enables /reset_prefix_cache (vLLM) and /sleep + /wake_up: the cache loop's evictions.
      env: { ...process.env, ...record.env, POD_IP: '127.0.0.1', VLLM_SERVER_DEV_MODE: '1' },
    });
    closeSync(log);
    // Recorded before the spawn completes: a worker killed in between leaves a record (pid 0), and the next
    // apply or observe adopts the process by its command line instead of starting a second one.
    writeFileSync(
      this.file(record.namespace, record.name),
      JSON.stringify({ ...record, pid: 0, startedAt: new Date().toISOString() }, null, 2),
    );
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    });
    child.unref();
    const full: ReplicaRecord = { ...record, pid, startedAt: new Date().toISOString() };
    writeFileSync(this.file(record.namespace, record.name), JSON.stringify(full, null, 2));
    return full;
  }

  /**
   * Makes the running replicas match the plan: adopts those already running this digest, replaces those
   * running another, starts the missing ones and stops the ones the plan no longer has.
   */
  async apply(plan: ServingPlan, revision: number): Promise<AppliedReplicas> {
    const started: string[] = [];
    const adopted: string[] = [];
    const wanted = new Set<string>();
    const taken = this.takenPorts();
    const env = Object.fromEntries(plan.env.map((e) => [e.name, e.value]));
    for (const group of plan.groups) {
      for (let i = 0; i < group.replicas; i++) {
        const name = `${group.name}-${i}`;
        wanted.add(name);
        const existing = this.records(plan.namespace).find((r) => r.name === name);
        if (existing && existing.digest === plan.digest && alive(existing.pid)) {
          adopted.push(name);
          continue;
        }
        if (existing && alive(existing.pid)) this.kill(existing);
        const port = existing && !alive(existing.pid) ? existing.port : await freePort(taken);
        taken.add(port);
        await this.start({
          name,
          namespace: plan.namespace,
          owner: plan.owner.name,
          role: group.role,
          port,
          digest: plan.digest,
          revision,
          command: this.commandFor(plan, group, port),
          env,
          restarts: 0,
        });
        started.push(name);
      }
    }
    const stopped: string[] = [];
    for (const r of this.records(plan.namespace, plan.owner.name)) {
      if (wanted.has(r.name)) continue;
      this.kill(r);
      rmSync(this.file(r.namespace, r.name), { force: true });
      stopped.push(r.name);
    }
    return { applied: [...started, ...adopted].map((n) => `Process/${n}`), deleted: stopped };
  }

  /** Waits until every replica of the plan answers /health; fails when one exits or time runs out. */
  async awaitReady(
    plan: ServingPlan,
    _revision: number,
    timeoutMs: number,
    hooks: RolloutHooks,
  ): Promise<RolloutOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending: string[] = [];
      for (const r of this.records(plan.namespace, plan.owner.name)) {
        if (!alive(r.pid)) {
          const log = join(this.folder(r.namespace), `${r.name}.log`);
          const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-500) : '';
          return { ok: false, message: `replica ${r.name} exited: ${tail.trim().split('\n').pop() ?? ''}` };
        }
        if (!(await healthy(r.port))) pending.push(r.name);
      }
      if (pending.length === 0)
        return { ok: true, message: `all replicas of ${plan.owner.name} answer /health` };
      if (Date.now() > deadline)
        return {
          ok: false,
          message: `replicas not ready within ${Math.round(timeoutMs / 1000)}s: ${pending.join(', ')}`,
        };
      hooks.heartbeat({ pending });
      await hooks.sleep(500);
    }
  }

  /** The replicas as endpoints; replicas that exited are restarted on the same port (not ready yet) and logged. */
  async observe(plan: ServingPlan): Promise<ReplicaObservation> {
    const endpoints: ReplicaEndpoint[] = [];
    const restarted: string[] = [];
    for (const r of this.records(plan.namespace, plan.owner.name)) {
      let record = r;
      if (!alive(r.pid)) {
        record = await this.start({ ...r, restarts: r.restarts + 1 });
        restarted.push(r.name);
      }
      endpoints.push({
        name: record.name,
        url: `http://127.0.0.1:${record.port}`,
        role: record.role,
        ready: record === r ? await healthy(record.port) : false,
      });
    }
    if (restarted.length) console.warn(`restarted replicas that had exited: ${restarted.join(', ')}`);
    return observationOf(plan, endpoints);
  }

  /** Stops and forgets every replica of an owner. */
  deleteOwned(namespace: string, owner: string): string[] {
    const stopped: string[] = [];
    for (const r of this.records(namespace, owner)) {
      this.kill(r);
      rmSync(this.file(r.namespace, r.name), { force: true });
      stopped.push(r.name);
    }
    return stopped;
  }

  private kill(record: ReplicaRecord): void {
    // A record of a replica being started has no pid yet; -0 would signal our own process group.
    if (!(record.pid > 0)) return;
    try {
      process.kill(-record.pid, 'SIGTERM');
    } catch {
      try {
        process.kill(record.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}
