import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  checkReferences,
  formatProblem,
  validateText,
  type ParsedResource,
  type Problem,
  type ResourceIdentity,
} from '../api/index.ts';

const ROUTES_FILE = /\.routes\.ya?ml$/;
const YAML_FILE = /\.ya?ml$/i;

/** Every YAML file named, or found (recursively, in name order) under a named folder. */
export async function collectFiles(
  paths: readonly string[],
): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      // `*.routes.yaml` files are the gateway's static route files, not resources (see infctl gateway).
      else if (YAML_FILE.test(entry.name) && !ROUTES_FILE.test(entry.name)) files.push(full);
    }
  }
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) missing.push(path);
    else if (info.isDirectory()) await walk(path);
    else files.push(path);
  }
  return { files, missing };
}

export interface ValidateReport {
  files: number;
  resources: ParsedResource[];
  problems: Problem[];
}

async function validatePaths(paths: readonly string[], strict: boolean): Promise<ValidateReport> {
  const { files, missing } = await collectFiles(paths);
  const problems: Problem[] = missing.map((file) => ({
    severity: 'error',
    file,
    document: 0,
    path: '',
    message: 'no such file or folder',
  }));
  const resources: ParsedResource[] = [];
  const invalid: ResourceIdentity[] = [];
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    const result = validateText(shown.startsWith('..') ? file : shown, await readFile(file, 'utf8'));
    resources.push(...result.resources);
    invalid.push(...result.invalid);
    problems.push(...result.problems);
  }
  problems.push(...checkReferences(resources, { strict, invalid }));
  return { files: files.length, resources, problems };
}

export async function runValidate(
  paths: readonly string[],
  options: { strict: boolean; json: boolean },
): Promise<number> {
  if (paths.length === 0) {
    process.stderr.write('usage: infctl validate [--strict] [--output json] <file or folder>...\n');
    return 2;
  }
  const report = await validatePaths(paths, options.strict);
  const errors = report.problems.filter((p) => p.severity === 'error');
  const warnings = report.problems.filter((p) => p.severity === 'warning');
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          files: report.files,
          resources: report.resources.map((r) => ({
            file: r.file,
            document: r.document,
            kind: r.resource.kind,
            namespace: r.resource.metadata.namespace ?? 'default',
            name: r.resource.metadata.name,
          })),
          problems: report.problems,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const p of report.problems)
      (p.severity === 'error' ? process.stderr : process.stdout).write(`${formatProblem(p)}\n`);
    process.stdout.write(
      `${report.files} file(s), ${report.resources.length} valid resource(s), ${errors.length} error(s), ${warnings.length} warning(s)\n`,
    );
  }
  return errors.length > 0 ? 1 : 0;
}
