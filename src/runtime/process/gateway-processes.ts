/**
 * The process runtime's gateways: each InferenceGateway runs as one local `infctl gateway` process, routing
 * from its InferenceGateway (read from the API server as a deployed gateway does), on 127.0.0.1 at
 * spec.listener.port, or a free port while that one is taken, with its admin API on a free port. The admin
 * token is generated once into `<dir>/<namespace>/<name>.token` (mode 0600); the process is found again by
 * that file on its command line, so a worker that restarts, or a second worker, adopts it instead of starting
 * another. Gateways are detached: they outlive the worker that started them, until their InferenceGateway is
 * deleted (or `infctl dev down`).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
import { join, resolve } from 'node:path';
import type { GatewayDeployment, GatewayRuntime, GatewayTarget } from '../gateway-runtime.ts';
import { alive, freePort, healthy, portFree, terminate } from './local-processes.ts';

export interface ProcessGatewayOptions {
  /** Where tokens, records and logs live (`<state dir>/gateways`). */
  dir: string;
  /** How to run `infctl` here: the checkout's bin/infctl, or node and the compiled main.js. */
  infctl: string[];
  /** Environment for the gateway process on top of the worker's (KUBECONFIG for its own credentials). */
  env?: Record<string, string>;
}

/** A running gateway process, as its command line says. */
interface GatewayProcess {
  pid: number;
  port: number;
  adminPort: number;
}

/** What the folder remembers of a gateway between runs: its ports, so a restart keeps its address. */
interface GatewayRecord extends GatewayProcess {
  namespace: string;
  name: string;
  startedAt: string;
  restarts: number;
}

const flag = (argv: string[], name: string) => Number(argv[argv.indexOf(name) + 1]);

/** The gateway process whose command line names `tokenFile`, if one runs. */
function runningWith(tokenFile: string): GatewayProcess | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const at = argv.indexOf('--admin-token-file');
    if (at < 0 || argv[at + 1] !== tokenFile || !argv.includes('gateway') || !alive(Number(entry))) continue;
    return { pid: Number(entry), port: flag(argv, '--port'), adminPort: flag(argv, '--admin-port') };
  }
  return undefined;
}

export class ProcessGatewayRuntime implements GatewayRuntime {
  private readonly options: ProcessGatewayOptions;

  constructor(options: ProcessGatewayOptions) {
    // Absolute: the token file's path on a command line is how a gateway is found again.
    this.options = { ...options, dir: resolve(options.dir) };
  }

  private file(namespace: string, name: string, extension: string): string {
    const dir = join(this.options.dir, namespace);
    mkdirSync(dir, { recursive: true });
    return join(dir, `${name}.${extension}`);
  }

  /** The admin token, generated on first use and kept: a restarted gateway and the worker agree on it. */
  private token(namespace: string, name: string): string {
    const file = this.file(namespace, name, 'token');
    if (!existsSync(file)) {
      try {
        writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        // Another worker wrote it first: its token stands.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return file;
  }

  private record(namespace: string, name: string): GatewayRecord | undefined {
    const file = this.file(namespace, name, 'json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as GatewayRecord) : undefined;
  }

  async deployGateway(target: GatewayTarget): Promise<GatewayDeployment> {
    const { namespace, name, spec } = target;
    const tokenFile = this.token(namespace, name);
    let running = runningWith(tokenFile);
    const wanted = spec.listener.port;
    const previous = this.record(namespace, name);
    // On a fallback port while the spec's is free again (or the spec changed): move to the spec's port.
    if (running && running.port !== wanted && (await portFree(wanted))) {
      terminate(running.pid);
      running = undefined;
    }
    if (!running) running = await this.start(target, tokenFile, previous);
    return {
      address: `http://127.0.0.1:${running.port}`,
      adminUrl: `http://127.0.0.1:${running.adminPort}`,
      // One local process, whatever spec.replicas asks of a cluster.
      replicas: 1,
      readyReplicas: (await healthy(running.port)) ? 1 : 0,
      applied: [`Process/${name}-gateway`],
    };
  }

  private async start(
    target: GatewayTarget,
    tokenFile: string,
    previous: GatewayRecord | undefined,
  ): Promise<GatewayProcess> {
    const { namespace, name, spec } = target;
    const taken = new Set<number>();
    const pick = async (...candidates: (number | undefined)[]) => {
      for (const port of candidates)
        if (port !== undefined && !taken.has(port) && (await portFree(port))) return port;
      return freePort(taken);
    };
    const port = await pick(spec.listener.port, previous?.port);
    taken.add(port);
    const adminPort = await pick(previous?.adminPort);
    const [command = '', ...args] = this.options.infctl;
    const log = openSync(this.file(namespace, name, 'log'), 'a');
    const child = spawn(
      command,
      [
        ...args,
        'gateway',
        '--gateway',
        `${namespace}/${name}`,
        '--namespace',
        namespace,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--admin-port',
        String(adminPort),
        '--admin-token-file',
        tokenFile,
      ],
      { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...this.options.env } },
    );
    closeSync(log);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    });
    child.unref();
    const record: GatewayRecord = {
      namespace,
      name,
      pid,
      port,
      adminPort,
      startedAt: new Date().toISOString(),
      restarts: previous ? previous.restarts + 1 : 0,
    };
    writeFileSync(this.file(namespace, name, 'json'), JSON.stringify(record, null, 2));
    return record;
  }

  /** Stops the gateway process (found by its command line, never by a recorded pid) and forgets it. */
  deleteGateway(namespace: string, name: string): Promise<string[]> {
    const tokenFile = join(this.options.dir, namespace, `${name}.token`);
    const running = existsSync(tokenFile) ? runningWith(tokenFile) : undefined;
    if (running) terminate(running.pid);
    for (const extension of ['json', 'token']) rmSync(this.file(namespace, name, extension), { force: true });
    return Promise.resolve(running ? [`Process/${name}-gateway`] : []);
  }

  /** Every gateway of the folder (for `infctl dev down`). */
  gateways(): { namespace: string; name: string }[] {
    if (!existsSync(this.options.dir)) return [];
    return readdirSync(this.options.dir).flatMap((namespace) =>
      readdirSync(join(this.options.dir, namespace))
        .filter((f) => f.endsWith('.token'))
        .map((f) => ({ namespace, name: f.slice(0, -'.token'.length) })),
    );
  }

  adminToken(namespace: string, name: string): Promise<string | undefined> {
    const file = join(this.options.dir, namespace, `${name}.token`);
    return Promise.resolve(existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  }
}
