#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { staleCrds, writeCrds } from './crds.ts';
import { staleDashboards, writeDashboards } from '../dashboards/index.ts';
import { DEV_USAGE, runDev } from './dev/command.ts';
import { runValidate } from './validate.ts';
import { runController, runResourceCommand, runWorker } from './engine.ts';
import { GATEWAY_USAGE, runGateway } from './gateway.ts';
import { LOAD_USAGE, runLoad } from './load.ts';

const USAGE = `infctl — inference-controller command line

  infctl validate [--strict] [--output json] <files or folders>...
      Validate resources (multi-document YAML) and the references between them.
  infctl crds generate [--dir crds]   Write the CRDs generated from src/api.
  infctl crds check [--dir crds]      Exit 1 if the checked-in CRDs are stale.
  infctl dashboards generate|check    Write the Grafana dashboards generated from src/dashboards into the
                                      chart's dashboards/ folder, or exit 1 if the checked-in ones are stale.

Engine (Temporal settings from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TEMPORAL_API_KEY,
TEMPORAL_TLS_CERT/KEY/CA; Kubernetes from KUBECONFIG or in-cluster):
  infctl worker                       Run the Temporal worker (workflows and activities). /healthz, /readyz
                                      and /metrics on INFCTL_WORKER_METRICS_ADDRESS (host:port) when set;
                                      cache transfers use the gateways in INFCTL_GATEWAY_ADMIN_URLS with
                                      _TOKEN, else those the InferenceGateways' status names. Sizing:
                                      INFCTL_WORKER_MAX_CACHED_WORKFLOWS, _MAX_CONCURRENT_WORKFLOW_TASKS,
                                      _MAX_CONCURRENT_ACTIVITIES, _STICKY_QUEUE_TIMEOUT (SDK defaults).
  infctl controller [--poll-interval MS] [--resync MS]
                                      Watch the five kinds and signal their workflows. /healthz, /readyz
                                      and /metrics on INFCTL_CONTROLLER_METRICS_ADDRESS (host:port) when set.
  infctl status   <kind>/<namespace>/<name>            Current state of a resource's workflow.
  infctl pause    <kind>/<namespace>/<name> [reason]   Stop reconciling (spec changes wait).
  infctl resume   <kind>/<namespace>/<name>            Reconcile again, latest spec first.
  infctl rollback <kind>/<namespace>/<name> <revision> Roll an InferenceService back to a revision.
  infctl history  <kind>/<namespace>/<name>            The workflow's steps as a timeline.
  infctl evict    InferenceCache/<namespace>/<name> <replica> [reason]
                                                       Drop one replica's prefix cache now (forceEvict).
  infctl transfer InferenceCache/<namespace>/<name> <from> <to> [reason]
                                  Move the hottest prefixes of <from> to <to> now (forceTransfer).
  infctl set-policy InferenceCache/<namespace>/<name> key=value... [expiresIn=1h] [reason=...]
                                  Thresholds for a while (setPolicy): thresholdHitRate, evictionThreshold,
                                  sustainedPolls, cooldown; \`clear\` drops the override.
  infctl pause-actions  InferenceCache/<namespace>/<name> [reason]
                                  Stop automatic evictions and transfers; polling and status go on.
  infctl resume-actions InferenceCache/<namespace>/<name>

Gateway (the OpenAI-compatible data plane; never talks to Temporal):
${GATEWAY_USAGE}${LOAD_USAGE}
Local environment (real components, built or found at pinned versions):
${DEV_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          strict: { type: 'boolean', default: false },
          output: { type: 'string', short: 'o', default: 'text' },
        },
      });
      if (values.output !== 'text' && values.output !== 'json') {
        process.stderr.write(`--output must be "text" or "json", not "${values.output}"\n`);
        return 2;
      }
      return runValidate(positionals, { strict: values.strict, json: values.output === 'json' });
    }
    case 'crds': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { dir: { type: 'string', default: 'crds' } },
      });
      if (positionals[0] === 'generate') {
        for (const file of await writeCrds(values.dir)) process.stdout.write(`wrote ${file}\n`);
        return 0;
      }
      if (positionals[0] === 'check') {
        const stale = await staleCrds(values.dir);
        for (const s of stale) process.stderr.write(`stale CRD: ${values.dir}/${s}\n`);
        if (stale.length > 0) process.stderr.write('run `make crds` and commit the result\n');
        return stale.length > 0 ? 1 : 0;
      }
      process.stderr.write('usage: infctl crds generate|check [--dir crds]\n');
      return 2;
    }
    case 'dashboards': {
      if (rest[0] === 'generate') {
        for (const file of await writeDashboards()) process.stdout.write(`wrote ${file}\n`);
        return 0;
      }
      if (rest[0] === 'check') {
        const stale = await staleDashboards();
        for (const s of stale) process.stderr.write(`stale dashboard: ${s}\n`);
        if (stale.length > 0) process.stderr.write('run `make dashboards` and commit the result\n');
        return stale.length > 0 ? 1 : 0;
      }
      process.stderr.write('usage: infctl dashboards generate|check\n');
      return 2;
    }
    case 'dev':
      return runDev(rest);
    case 'gateway':
      return runGateway(rest);
    case 'load':
      return runLoad(rest);
    case 'worker':
      return runWorker();
    case 'controller': {
      const { values } = parseArgs({
        args: rest,
        options: { 'poll-interval': { type: 'string' }, resync: { type: 'string' } },
      });
      const ms = (v: string | undefined, flag: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 10)
          throw new Error(`${flag} takes milliseconds (an integer of at least 10), not "${v}"`);
        return n;
      };
      return runController({
        pollIntervalMs: ms(values['poll-interval'], '--poll-interval'),
        resyncMs: ms(values.resync, '--resync'),
      });
    }
    case 'status':
    case 'pause':
    case 'resume':
    case 'rollback':
    case 'history':
    case 'evict':
    case 'transfer':
    case 'set-policy':
    case 'pause-actions':
    case 'resume-actions':
      return runResourceCommand(command, rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Temporal wraps the answer of a rejected update (the validator's message) in a cause chain.
    const messages: string[] = [];
    for (let e: unknown = err; e instanceof Error && messages.length < 5; e = e.cause)
      messages.push(e.message);
    process.stderr.write(`infctl: ${messages.length ? messages.join(': ') : String(err)}\n`);
    process.exitCode = 1;
  },
);
