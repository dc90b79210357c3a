import { parseDuration } from '../../api/common.ts';
import { parseArgs } from 'node:util';
import {
  describe,
  down,
  envExports,
  readEnvironment,
  RESTARTABLE,
  restartProcess,
  runningProcesses,
  up,
} from './environment.ts';
import { dirname } from 'node:path';
import { requireTools } from '../../tools/components.ts';
import { runTools } from './tools.ts';

export const DEV_USAGE = `  infctl dev tools [--check]     Build or find every real component; --check only reports.
  infctl dev up [--nodes FILE] [--runtime kubernetes|process]
                                 Start etcd, the Kubernetes control plane with kwok GPU nodes, Temporal and Redis.
                                 --runtime process: the worker runs replicas as local simulator processes.
  infctl dev down                Stop everything dev up started.
  infctl dev restart <process>   Restart one process on the same ports and data (e.g. temporal);
                                 --kill sends SIGKILL, --down-for 20s keeps it stopped that long first.
  infctl dev status              Show what runs and where.
  infctl dev env                 Print export lines (KUBECONFIG, TEMPORAL_ADDRESS, REDIS_URL, ...).
`;

export async function runDev(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'tools': {
      const { values } = parseArgs({ args: rest, options: { check: { type: 'boolean', default: false } } });
      return runTools({ check: values.check });
    }
    case 'up': {
      const { values } = parseArgs({
        args: rest,
        options: { nodes: { type: 'string' }, runtime: { type: 'string', default: 'kubernetes' } },
      });
      if (values.runtime !== 'kubernetes' && values.runtime !== 'process')
        throw new Error(`--runtime takes "kubernetes" or "process", not "${values.runtime}"`);
      const started = Date.now();
      const { env, started: fresh } = await up({ nodesFile: values.nodes, runtime: values.runtime });
      if (!fresh) {
        process.stdout.write(
          `already running; not starting a second environment (\`infctl dev down\` stops it)\n${describe(env)}\n`,
        );
        return 0;
      }
      process.stdout.write(
        `${describe(env)}\n\nready in ${((Date.now() - started) / 1000).toFixed(1)}s; \`eval "$(./bin/infctl dev env)"\` to use it\n`,
      );
      return 0;
    }
    case 'down': {
      const stopped = await down((line) => process.stderr.write(`${line}\n`));
      process.stdout.write(stopped.length ? `stopped ${stopped.join(', ')}\n` : 'nothing was running\n');
      return 0;
    }
    case 'restart': {
      const name = rest[0];
      const kill = rest.includes('--kill');
      const downFor = rest.indexOf('--down-for');
      const downForText = downFor >= 0 ? rest[downFor + 1] : undefined;
      if (!name || !RESTARTABLE.includes(name) || (downFor >= 0 && !downForText)) {
        process.stderr.write(
          `usage: infctl dev restart <${RESTARTABLE.join('|')}> [--kill] [--down-for <duration>]\n`,
        );
        return 2;
      }
      await restartProcess(
        name as Parameters<typeof restartProcess>[0],
        (line) => process.stderr.write(`${line}\n`),
        { kill, ...(downForText ? { downForMs: parseDuration(downForText) } : {}) },
      );
      process.stdout.write(`restarted ${name}\n`);
      return 0;
    }
    case 'status': {
      const env = readEnvironment();
      if (!env) {
        process.stdout.write('no local environment (`infctl dev up` starts one)\n');
        return 1;
      }
      process.stdout.write(`${describe(env)}\n`);
      return runningProcesses(env).length === Object.keys(env.pids).length ? 0 : 1;
    }
    case 'env': {
      const env = readEnvironment();
      if (!env || runningProcesses(env).length === 0) {
        process.stderr.write('no local environment is running (`infctl dev up` starts one)\n');
        return 1;
      }
      for (const [key, value] of Object.entries(envExports(env)))
        process.stdout.write(`export ${key}=${JSON.stringify(value)}\n`);
      // The pinned kubectl, temporal and redis-cli come first on PATH.
      const dirs = new Set(
        Object.values(requireTools()).flatMap((t) => Object.values(t.paths).map((p) => dirname(p))),
      );
      process.stdout.write(`export PATH="${[...dirs].join(':')}:$PATH"\n`);
      return 0;
    }
    default:
      process.stderr.write(`usage:\n${DEV_USAGE}`);
      return 2;
  }
}
