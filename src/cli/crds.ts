import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { renderCrds } from '../api/index.ts';
import { CLUSTER_ROLES_TEMPLATE, renderClusterRoles } from '../rbac/cluster-roles.ts';

/** The default output: besides it, the Helm chart gets the same CRDs and the ClusterRoles from src/rbac. */
const DEFAULT_CRD_DIR = 'crds';
export const CHART_DIR = 'deploy/charts/inference-controller';

/** Every generated file: the CRDs in `dir` and, for the default `crds`, the chart's copies and ClusterRoles. */
function generated(dir: string): { dirs: string[]; files: Map<string, string> } {
  const dirs = dir === DEFAULT_CRD_DIR ? [dir, join(CHART_DIR, 'crds')] : [dir];
  const files = new Map<string, string>();
  for (const d of dirs) for (const [name, text] of renderCrds()) files.set(join(d, name), text);
  if (dir === DEFAULT_CRD_DIR) files.set(join(CHART_DIR, CLUSTER_ROLES_TEMPLATE), renderClusterRoles());
  return { dirs, files };
}

/** Writes every generated CRD into `dir` (and the chart, for the default); returns the files written. */
export async function writeCrds(dir: string): Promise<string[]> {
  const { files } = generated(dir);
  for (const [path, text] of files) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  return [...files.keys()];
}

/** Names the files that differ from what generation produces, or are missing or extra (relative to `dir`). */
export async function staleCrds(dir: string): Promise<string[]> {
  const { dirs, files } = generated(dir);
  const stale: string[] = [];
  const name = (path: string) => (path.startsWith(`${dir}/`) ? path.slice(dir.length + 1) : path);
  for (const [path, text] of files) {
    const actual = await readFile(path, 'utf8').catch(() => undefined);
    if (actual !== text)
      stale.push(actual === undefined ? `${name(path)} (missing)` : `${name(path)} (differs)`);
  }
  for (const d of dirs) {
    const present = (await readdir(d).catch(() => [] as string[])).filter((f) => f.endsWith('.yaml'));
    for (const f of present) if (!files.has(join(d, f))) stale.push(`${name(join(d, f))} (not generated)`);
  }
  return stale;
}
