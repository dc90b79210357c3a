import { spawnSync } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { binary } from '../../src/tools/components.ts';
import { components } from './components.ts';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the pinned kubectl against the local environment. */
export function kubectlFor(env: DevEnvironment) {
  const path = binary(components('kubernetes'), 'kubernetes', 'kubectl');
  return (args: string[], input?: string): KubectlResult => {
    const r = spawnSync(path, ['--kubeconfig', env.kubeconfig, ...args], {
      encoding: 'utf8',
      input,
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

export async function eventually<T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const started = Date.now();
  let last: T | undefined;
  while (Date.now() - started < timeoutMs) {
    last = probe();
    if (last !== undefined) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not reached within ${timeoutMs / 1000}s`);
}

/** The product's Kubernetes client against the local environment (its admin kubeconfig). */
export function kubeClientFor(env: DevEnvironment): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  return new KubeClient(kc);
}

/**
 * Deletes the InferenceGateways, InferenceServices and InferenceCaches in `namespace` and waits for them: run
 * while the worker runs, so its workflows stop what they started and release their finalizers.
 */
export const deleteProductResources = (
  kubectl: (args: string[]) => KubectlResult,
  namespace: string,
): KubectlResult =>
  kubectl([
    'delete',
    'inferencegateway,inferenceservice,inferencecache',
    '--all',
    '-n',
    namespace,
    '--timeout=60s',
  ]);
