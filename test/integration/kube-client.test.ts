/**
 * The Kubernetes client against the real API server: its calls share kept-alive TLS connections instead of a
 * handshake and a secure context per call (issue 16: that was a quarter of the worker's own CPU at N=300).
 */
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { paths, type KubeClient } from '../../src/kube/client.ts';
import { kubeClientFor } from '../helpers/kubectl.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';

describe('the Kubernetes client', () => {
  let kube: KubeClient;
  before(async () => {
    kube = kubeClientFor(await useDevEnvironment());
  });
  after(() => releaseDevEnvironment());

  it('sends twenty calls, reads and writes, over one kept-alive connection', async () => {
    // Each answered call, with the socket it went over.
    const sockets: unknown[] = [];
    const onResponse = (message: unknown) =>
      sockets.push((message as { request: { socket: unknown } }).request.socket);
    diagnostics.subscribe('http.client.response.finish', onResponse);
    try {
      for (let i = 0; i < 10; i++) {
        assert.ok((await kube.get<{ items: unknown[] }>(paths.services('default'))).items.length > 0);
        await kube.mergePatch('/api/v1/namespaces/default', {
          metadata: { annotations: { 'kube-client.test/call': String(i) } },
        });
      }
    } finally {
      diagnostics.unsubscribe('http.client.response.finish', onResponse);
    }
    assert.equal(sockets.length, 20);
    assert.equal(new Set(sockets).size, 1, `${new Set(sockets).size} connections for 20 calls`);
  });
});
