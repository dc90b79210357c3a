import { join } from 'node:path';
import { REPO_ROOT } from '../../tools/components.ts';

/** The local environment's state: pids, logs, certificates, kubeconfig, the Temporal database. */
export function stateDir(): string {
  return process.env.INFCTL_STATE_DIR ?? join(REPO_ROOT, '.state', 'dev');
}
