/** Set-up shared by the cache-loop e2e tests: the resources, published endpoints, the workflow, a load. */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import { specSignal } from '../../src/workflows/messages.ts';
import { resourceWorkflowStart, workflowIdFor } from '../../src/temporal/start.ts';
import { specMessage } from './specs.ts';
import { words } from './gateway.ts';
import type { KubectlResult } from './kubectl.ts';
import { InferenceCacheWorkflow } from '../../src/workflows/index.ts';

const API = 'production-stack.vllm.ai/v1alpha1';
type Kubectl = (args: string[], input?: string) => KubectlResult;

export interface CacheFixture {
  namespace: string;
  model: string;
  cacheSpec: Record<string, unknown>;
  /** The replicas, as the service's rollout would publish them. */
  endpoints: { name: string; url: string }[];
}

/**
 * The InferenceService `chat-svc` and InferenceCache `chat-cache`, with the service's status pointing at the
 * given endpoints (its own workflow is left out: on Kubernetes it would publish kwok pod IPs).
 */
export function applyCacheFixture(kubectl: Kubectl, f: CacheFixture): void {
  const apply = (doc: object) => applyDoc(kubectl, f.namespace, doc);
  apply({
    apiVersion: API,
    kind: 'InferenceService',
    metadata: { name: 'chat-svc' },
    spec: {
      modelName: f.model,
      backendRef: 'chat-backend',
      inferenceCacheRef: 'chat-cache',
      runtime: { engine: 'simulator' },
    },
  });
  apply({ apiVersion: API, kind: 'InferenceCache', metadata: { name: 'chat-cache' }, spec: f.cacheSpec });
  const patch = { status: { endpoints: f.endpoints.map((e) => ({ ...e, role: 'both', ready: true })) } };
  const r = kubectl([
    'patch',
    'inferenceservice',
    'chat-svc',
    '-n',
    f.namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(patch),
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/** `kubectl apply` of one document, asserting it was accepted. */
export function applyDoc(kubectl: Kubectl, namespace: string, doc: object): void {
  const r = kubectl(['apply', '-n', namespace, '-f', '-'], stringify(doc));
  assert.equal(r.code, 0, r.stderr);
}

/** Starts the cache workflow the way the controller does (signalWithStart with the spec). */
export async function startCacheWorkflow(temporal: Client, f: CacheFixture): Promise<void> {
  await temporal.workflow.signalWithStart(InferenceCacheWorkflow, {
    ...resourceWorkflowStart({
      kind: 'InferenceCache',
      namespace: f.namespace,
      name: 'chat-cache',
      taskQueue: 'inference-controller',
    }),
    signal: specSignal,
    signalArgs: [specMessage('InferenceCache', f.cacheSpec, 1)],
  });
}

export async function stopCacheWorkflow(temporal: Client | undefined, namespace: string): Promise<void> {
  await temporal?.workflow
    .getHandle(workflowIdFor('InferenceCache', namespace, 'chat-cache'))
    .terminate()
    .catch(() => {});
}

/** Keeps `concurrency` long streaming-length requests running against one replica until stopped. */
export function steadyLoad(url: string, model: string, concurrency: number): () => Promise<void> {
  let running = true;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    for (let n = 0; running; n++) {
      await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          max_tokens: 100,
          ignore_eos: true,
          messages: [{ role: 'user', content: words(i * 1000 + n, 400) }],
        }),
      }).then(
        (r) => r.text(),
        () => '',
      );
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}
