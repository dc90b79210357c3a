import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import {
  releaseDevEnvironment,
  startSimulator,
  useDevEnvironment,
  type Simulator,
} from '../helpers/components.ts';
import { startEngineProcess, type EngineProcess } from '../helpers/engine.ts';
import { chat, until } from '../helpers/gateway.ts';
import { kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `e2e-gateway-${process.pid}`;
const API = 'production-stack.vllm.ai/v1alpha1';
const MODEL = 'llama3-70b';
let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
const sims: Simulator[] = [];
let gateway: EngineProcess | undefined;
let url = '';

const apply = (doc: object) => {
  const r = kubectl(['apply', '-n', NS, '-f', '-'], stringify(doc));
  assert.equal(r.code, 0, r.stderr);
};
/** Writes status.endpoints as the engine would once replicas are ready. */
const publishEndpoints = (endpoints: { name: string; url: string; ready: boolean }[]) => {
  const r = kubectl([
    'patch',
    'inferenceservice',
    'chat-svc',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { endpoints: endpoints.map((e) => ({ ...e, role: 'both' })) } }),
  ]);
  assert.equal(r.code, 0, r.stderr);
};

describe('gateway with routes from Kubernetes', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    assert.equal(kubectl(['create', 'namespace', NS]).code, 0);
    sims.push(await startSimulator({ model: MODEL }), await startSimulator({ model: MODEL }));
    apply({
      apiVersion: API,
      kind: 'InferenceService',
      metadata: { name: 'chat-svc' },
      spec: {
        modelName: MODEL,
        backendRef: 'chat-backend',
        nlpFilters: { promptGuard: { blockedPatterns: ['SSN'] } },
      },
    });
    apply({
      apiVersion: API,
      kind: 'InferenceGateway',
      metadata: { name: 'llm-gateway' },
      spec: {
        routeStrategy: 'SessionAffinity',
        routes: [{ model: 'chat', inferenceServiceRef: 'chat-svc' }],
      },
    });
    const port = await freePort();
    gateway = await startEngineProcess(
      env,
      ['gateway', '--gateway', `${NS}/llm-gateway`, '--port', String(port), '--host', '127.0.0.1'],
      /listening on/,
    );
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await gateway?.kill();
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    for (const s of sims) s.stop();
    await releaseDevEnvironment();
  });

  it('answers 503 while the service has no ready endpoint, then routes once its status lists one', async () => {
    const early = await chat(url, { model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(early.status, 503);
    assert.equal((early.json.error as { code: string }).code, 'no_healthy_upstream');
    publishEndpoints([
      { name: 'chat-svc-0', url: sims[0]!.url, ready: true },
      { name: 'chat-svc-1', url: sims[1]!.url, ready: false },
    ]);
    const served = await until('the route became ready', async () => {
      const r = await chat(url, {
        model: 'chat',
        max_tokens: 3,
        messages: [{ role: 'user', content: 'hi' }],
      });
      return r.status === 200 ? r : undefined;
    });
    // The route model "chat" is rewritten to the service's modelName, which the replica serves.
    assert.equal(served.json.model, MODEL);
    assert.equal(served.headers.get('x-inference-endpoint'), 'chat-svc-0');
  });

  it('follows endpoint changes in the InferenceService status', async () => {
    publishEndpoints([
      { name: 'chat-svc-0', url: sims[0]!.url, ready: false },
      { name: 'chat-svc-1', url: sims[1]!.url, ready: true },
    ]);
    await until('traffic moved to chat-svc-1', async () => {
      const r = await chat(url, {
        model: 'chat',
        max_tokens: 3,
        messages: [{ role: 'user', content: 'hi' }],
      });
      return r.headers.get('x-inference-endpoint') === 'chat-svc-1' ? true : undefined;
    });
  });

  it("applies the service's prompt guard from its spec", async () => {
    const r = await chat(url, { model: 'chat', messages: [{ role: 'user', content: 'ssn 123-45-6789' }] });
    assert.equal(r.status, 400);
    assert.equal((r.json.error as { code: string }).code, 'prompt_blocked');
  });

  it('drops a route when the gateway resource no longer lists it, and stops cleanly on SIGTERM', async () => {
    apply({
      apiVersion: API,
      kind: 'InferenceGateway',
      metadata: { name: 'llm-gateway' },
      spec: { routes: [{ model: 'other', inferenceServiceRef: 'chat-svc' }] },
    });
    await until('the chat route is gone', async () => {
      const r = await chat(url, { model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
      return r.status === 404 ? true : undefined;
    });
    await gateway!.kill('SIGTERM');
    assert.equal(gateway!.child.exitCode, 0, gateway!.output());
    assert.match(gateway!.output(), /shutting down/);
    gateway = undefined;
  });
});
