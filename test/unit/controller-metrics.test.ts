import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.ts';
import { parseExposition } from '../../src/metrics/exposition.ts';
import { serveHealth } from '../../src/metrics/serve.ts';

describe('the controller metrics endpoint', () => {
  it('serves the registry on /metrics with the queue read at scrape time, 404 elsewhere', async () => {
    const metrics = new ControllerMetrics();
    let pending = 3;
    metrics.queueSource = () => ({ pending, inFlight: 1 });
    metrics.signals.inc({ kind: 'InferenceService', signal: 'spec', outcome: 'ok' });
    metrics.signalLatency.observe({ kind: 'InferenceService' }, 0.02);
    const server = await serveHealth('127.0.0.1:0', {
      checks: {},
      metrics: () => metrics.registry.metrics(),
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const read = async () => parseExposition(await (await fetch(`${url}/metrics`)).text());
      const depth = (samples: Awaited<ReturnType<typeof read>>, state: string) =>
        samples.find((s) => s.name === 'infctl_controller_queue_depth' && s.labels.state === state)?.value;
      let samples = await read();
      assert.equal(depth(samples, 'pending'), 3);
      assert.equal(depth(samples, 'in_flight'), 1);
      pending = 0;
      samples = await read();
      assert.equal(depth(samples, 'pending'), 0);
      assert.equal(samples.find((s) => s.name === 'infctl_controller_signals_total')?.labels.outcome, 'ok');
      assert.equal(
        samples.find((s) => s.name === 'infctl_controller_spec_to_signal_seconds_count')?.value,
        1,
      );
      assert.equal((await fetch(`${url}/other`)).status, 404);
    } finally {
      server.close();
    }
  });

  it('refuses an address without a port, naming it', async () => {
    await assert.rejects(
      serveHealth('localhost', { checks: {}, metrics: () => Promise.resolve('') }),
      /host:port, not "localhost"/,
    );
  });
});
