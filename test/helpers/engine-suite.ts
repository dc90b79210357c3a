/**
 * The end-to-end engine tests' shared setting: a namespace of their own on the local environment, a worker
 * and a controller as real processes, and the kubectl reads the tests assert on.
 */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from './components.ts';
import { infctlFor, startController, startWorker, temporalFor, type EngineProcess } from './engine.ts';
import { kubectlFor, type KubectlResult } from './kubectl.ts';

export const API = 'production-stack.vllm.ai/v1alpha1';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
export interface Resource {
  metadata: { generation: number; name: string; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[]; [key: string]: unknown };
}
export interface Deployment {
  metadata: { name: string; annotations: Record<string, string> };
  spec: {
    replicas: number;
    template: {
      spec: {
        nodeSelector?: Record<string, string>;
        containers: { command: string[]; resources: { limits?: Record<string, string> } }[];
      };
    };
  };
  status: { availableReplicas?: number };
}

export const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

/** A suite in namespace `ns`: call `setUp` in `before` and `tearDown` in `after`. */
export function engineSuite(ns: string) {
  let env: DevEnvironment | undefined;
  let kube: ((args: string[], input?: string) => KubectlResult) | undefined;
  let client: Client | undefined;
  const engine: EngineProcess[] = [];
  const kubectl = (args: string[], input?: string) => {
    assert.ok(kube, 'the suite is set up');
    return kube(args, input);
  };
  const get = (kind: string, name: string) => {
    const r = kubectl(['get', kind, name, '-n', ns, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as Resource) : undefined;
  };
  return {
    engine,
    kubectl,
    get,
    env: () => env as DevEnvironment,
    temporal: () => client as Client,
    json: <T>(args: string[]): T => JSON.parse(kubectl([...args, '-n', ns, '-o', 'json']).stdout) as T,
    apply: (doc: object) => {
      const r = kubectl(['apply', '-n', ns, '-f', '-'], stringify(doc));
      assert.equal(r.code, 0, r.stderr);
    },
    infctl: (...args: string[]) => infctlFor(env as DevEnvironment)(...args),
    /** A merge patch of one resource in the test namespace; answers kubectl's exit code. */
    patchSpec: (kind: string, name: string, patch: string) =>
      kubectl(['patch', kind, name, '-n', ns, '--type=merge', '-p', patch]).code,
    /** The resource when Ready for its current generation. */
    ready: (kind: string, name: string) => {
      const r = get(kind, name);
      return condition(r, 'Ready')?.status === 'True' &&
        r?.status?.observedGeneration === r?.metadata.generation
        ? r
        : undefined;
    },
    deployment: (name: string) => {
      const r = kubectl(['get', 'deployment', name, '-n', ns, '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as Deployment) : undefined;
    },
    async setUp() {
      env = await useDevEnvironment();
      kube = kubectlFor(env);
      client = await temporalFor(env);
      assert.equal(kubectl(['create', 'namespace', ns]).code, 0);
      engine.push(await startWorker(env), await startController(env));
    },
    async tearDown() {
      kubectl(['delete', 'namespace', ns, '--wait=false']);
      for (const p of engine) await p.kill();
      await client?.connection.close();
      await releaseDevEnvironment();
    },
  };
}
