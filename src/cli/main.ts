import { parseArgs } from 'node:util';
import { staleCrds, writeCrds } from './crds.ts';
import { DEV_USAGE, runDev } from './dev/command.ts';
import { runValidate } from './validate.ts';

const USAGE = `infctl — inference-controller command line

  infctl validate [--strict] [--output json] <files or folders>...
      Validate resources (multi-document YAML) and the references between them.
  infctl crds generate [--dir crds]   Write the CRDs generated from src/api.
  infctl crds check [--dir crds]      Exit 1 if the checked-in CRDs are stale.

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
    case 'dev':
      return runDev(rest);
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
    process.stderr.write(`infctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
