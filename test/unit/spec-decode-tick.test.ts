/**
 * A SpeculativeDecoding tick's one read (readSpecDecodeTick): the target model's services, and their ready
 * replicas' counters only when there are services; one read of the services either way.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { ServiceReader, ServiceResource } from '../../src/activities/kubernetes/service-cache.ts';
import { specDecodeActivities } from '../../src/activities/vllm/spec-decode.ts';

function reader(services: ServiceResource[]) {
  const calls: string[] = [];
  const r: ServiceReader = {
    async servicesOfModel(namespace, model) {
      calls.push(`${namespace}/${model}`);
      return services;
    },
  };
  return { r, calls };
}

describe('readSpecDecodeTick', () => {
  it('without services: no scrape, the empty list', async () => {
    const { r, calls } = reader([]);
    assert.deepEqual(await specDecodeActivities(r).readSpecDecodeTick({ namespace: 'ns', model: 'm' }), {
      services: [],
    });
    assert.deepEqual(calls, ['ns/m']);
  });

  it('with services: their names sorted and the ready replicas counters summed, from one read', async () => {
    const server = createServer((_req, res) =>
      res.end('vllm:spec_decode_num_accepted_tokens_total 30\nvllm:spec_decode_num_draft_tokens_total 50\n'),
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const service = (name: string, endpoints: object[]) =>
        ({ metadata: { name }, spec: {}, status: { endpoints } }) as unknown as ServiceResource;
      const { r, calls } = reader([
        service('svc-b', [{ name: 'b-0', url, ready: true }]),
        service('svc-a', [
          { name: 'a-0', url, ready: true },
          { name: 'a-1', url, ready: false },
        ]),
      ]);
      const tick = await specDecodeActivities(r).readSpecDecodeTick({ namespace: 'ns', model: 'm' });
      assert.deepEqual(tick.services, ['svc-a', 'svc-b']);
      assert.deepEqual(tick.counters, { replicas: 2, reporting: 2, accepted: 60, drafted: 100 });
      assert.deepEqual(calls, ['ns/m']);
    } finally {
      server.close();
    }
  });
});
