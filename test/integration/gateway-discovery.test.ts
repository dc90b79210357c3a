/**
 * The worker's discovery of deployed gateways against the real API server: InferenceGateways whose status
 * publishes an admin URL, each with the token the runtime that deployed it keeps (the Secret the status names
 * on Kubernetes, the token file of the process runtime).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { deployedGatewayAdmins } from '../../src/activities/gateway/discovery.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubernetesGatewayRuntime } from '../../src/runtime/kubernetes/gateway-deployment.ts';
import { ProcessGatewayRuntime } from '../../src/runtime/process/gateway-processes.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { kubeClientFor, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const NS = `it-gw-discovery-${process.pid}`;
const DIR = mkdtempSync(join(tmpdir(), 'infctl-gw-discovery-'));
let kubectl: (args: string[], input?: string) => KubectlResult;
let kube: KubeClient;

const ok = (r: KubectlResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

/** An InferenceGateway with the status a runtime would have published. */
function gateway(name: string, status?: Record<string, string>): void {
  ok(
    kubectl(
      ['apply', '-n', NS, '-f', '-'],
      stringify({
        apiVersion: 'production-stack.vllm.ai/v1alpha1',
        kind: 'InferenceGateway',
        metadata: { name },
        spec: { routes: [{ model: 'm', inferenceServiceRef: 'svc' }] },
      }),
    ),
    `apply ${name}`,
  );
  if (status)
    ok(
      kubectl([
        'patch',
        'inferencegateway',
        name,
        '-n',
        NS,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status }),
      ]),
      `status of ${name}`,
    );
}

const secret = (name: string, data: Record<string, string>) =>
  ok(
    kubectl([
      'create',
      'secret',
      'generic',
      name,
      '-n',
      NS,
      ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`),
    ]),
    `secret ${name}`,
  );

describe('discovering deployed gateways from the API server', () => {
  before(async () => {
    const env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    kube = kubeClientFor(env);
    ok(kubectl(['create', 'namespace', NS]), 'namespace');
    gateway('on-cluster', {
      adminUrl: `http://on-cluster-gateway.${NS}.svc:9090`,
      adminSecret: 'on-cluster-admin',
    });
    secret('on-cluster-admin', { token: 'cluster-token' });
    gateway('local', { adminUrl: 'http://127.0.0.1:41234' });
    mkdirSync(join(DIR, NS), { recursive: true });
    writeFileSync(join(DIR, NS, 'local.token'), 'local-token\n', { mode: 0o600 });
    gateway('secret-gone', {
      adminUrl: `http://secret-gone-gateway.${NS}.svc:9090`,
      adminSecret: 'never-created',
    });
    gateway('not-deployed-yet');
  });
  after(async () => {
    kubectl(['delete', 'namespace', NS, '--wait=false']);
    rmSync(DIR, { recursive: true, force: true });
    await releaseDevEnvironment();
  });

  it('on Kubernetes: the gateways whose Secret holds a token, each with its own', async () => {
    const runtime = new KubernetesGatewayRuntime(kube, { image: 'unused', clusterRole: 'unused' });
    assert.deepEqual(await deployedGatewayAdmins(kube, NS, runtime), [
      { urls: [`http://on-cluster-gateway.${NS}.svc:9090`], token: 'cluster-token' },
    ]);
  });

  it('on the process runtime: the gateways whose token file it keeps', async () => {
    const runtime = new ProcessGatewayRuntime({ dir: DIR, infctl: [] });
    assert.deepEqual(await deployedGatewayAdmins(kube, NS, runtime), [
      { urls: ['http://127.0.0.1:41234'], token: 'local-token' },
    ]);
  });

  it('a Secret without a token is an error naming it; a namespace without gateways finds none', async () => {
    secret('broken-admin', { other: 'x' });
    gateway('broken', { adminUrl: `http://broken-gateway.${NS}.svc:9090`, adminSecret: 'broken-admin' });
    const runtime = new KubernetesGatewayRuntime(kube, { image: 'unused', clusterRole: 'unused' });
    await assert.rejects(
      deployedGatewayAdmins(kube, NS, runtime),
      new RegExp(`Secret ${NS}/broken-admin has no "token" key`),
    );
    assert.deepEqual(await deployedGatewayAdmins(kube, `${NS}-none`, runtime), []);
  });
});
