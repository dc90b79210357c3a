import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishedAdmins, type GatewayStatus } from '../../src/activities/gateway/discovery.ts';
import { secretToken } from '../../src/runtime/kubernetes/gateway-deployment.ts';

const gateway = (name: string, status?: GatewayStatus['status']): GatewayStatus => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceGateway',
  metadata: { name, namespace: 'team' },
  ...(status ? { status } : {}),
});

describe('finding deployed gateways from InferenceGateway statuses', () => {
  it('keeps the gateways that publish an admin URL, with their Secret when they name one, in name order', () => {
    assert.deepEqual(
      publishedAdmins([
        gateway('zeta', { adminUrl: 'http://zeta-gateway.team.svc:9090', adminSecret: 'zeta-gateway-admin' }),
        gateway('no-status'),
        gateway('routes-only', {}),
        gateway('empty-url', { adminUrl: '', adminSecret: 'x' }),
        gateway('alpha', { adminUrl: 'http://127.0.0.1:40123' }),
      ]),
      [
        { name: 'alpha', adminUrl: 'http://127.0.0.1:40123' },
        { name: 'zeta', adminUrl: 'http://zeta-gateway.team.svc:9090', adminSecret: 'zeta-gateway-admin' },
      ],
    );
  });

  it('decodes the token of an admin Secret, and names a Secret that has none', () => {
    assert.equal(
      secretToken({ data: { token: Buffer.from('s3cret').toString('base64') } }, 'Secret team/a'),
      's3cret',
    );
    assert.throws(() => secretToken({ data: {} }, 'Secret team/b'), /Secret team\/b has no "token" key/);
    assert.throws(() => secretToken({}, 'Secret team/c'), /Secret team\/c has no "token" key/);
  });
});
