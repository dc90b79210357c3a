import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this code runs from. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Built components are cached outside the checkout, keyed by version, so every clone and CI run reuses them. */
export function toolsDir(): string {
  return (
    process.env.INFCTL_TOOLS_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'inference-controller', 'tools')
  );
}

/** The local environment's state: pids, logs, certificates, kubeconfig, the Temporal database. */
export function stateDir(): string {
  return process.env.INFCTL_STATE_DIR ?? join(REPO_ROOT, '.state', 'dev');
}
