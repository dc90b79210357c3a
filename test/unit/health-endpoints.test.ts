import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { readiness, renderReadiness, type CheckResult } from '../../src/health/checks.ts';
import { parseExposition } from '../../src/metrics/exposition.ts';
import { parseAddress, serveHealth } from '../../src/metrics/serve.ts';

describe('readiness checks', () => {
  it('is ready only when every check holds, with a line per check saying why', async () => {
    const r = await readiness({
      temporal: () => ({ ok: true, detail: 'Temporal at t:7233 answers' }),
      informers: () => Promise.resolve({ ok: false, detail: 'InferenceService: watch failed (boom)' }),
    });
    assert.equal(r.ready, false);
    assert.equal(
      renderReadiness(r),
      'not ready\n[+]temporal ok: Temporal at t:7233 answers\n[-]informers failed: InferenceService: watch failed (boom)\n',
    );
    assert.equal((await readiness({ a: () => ({ ok: true, detail: 'fine' }) })).ready, true);
  });

  it('fails a check that throws or does not answer in time, naming it', async () => {
    const r = await readiness(
      {
        throws: () => {
          throw new Error('no connection object');
        },
        hangs: () => new Promise<CheckResult>(() => undefined),
      },
      50,
    );
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.ok, c.detail]),
      [
        ['throws', false, 'check failed: no connection object'],
        ['hangs', false, 'no answer within 50 ms'],
      ],
    );
  });
});

describe('the health listener', () => {
  it('answers /healthz always, /readyz by the checks (503 with the reason), /metrics with each check as a gauge', async () => {
    let temporal: CheckResult = { ok: true, detail: 'answers' };
    const server = await serveHealth('127.0.0.1:0', {
      checks: { temporal: () => temporal },
      metrics: () => Promise.resolve('# TYPE app_up gauge\napp_up 1\n'),
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const get = async (path: string) => {
        const res = await fetch(`${url}${path}`);
        return { status: res.status, body: await res.text() };
      };
      assert.deepEqual(await get('/healthz'), { status: 200, body: 'ok\n' });
      assert.deepEqual(await get('/readyz'), { status: 200, body: 'ready\n[+]temporal ok: answers\n' });
      temporal = { ok: false, detail: 'Temporal at 127.0.0.1:1 unreachable: connection refused' };
      assert.deepEqual(await get('/readyz'), {
        status: 503,
        body: 'not ready\n[-]temporal failed: Temporal at 127.0.0.1:1 unreachable: connection refused\n',
      });
      assert.equal((await get('/healthz')).status, 200);
      const samples = parseExposition((await get('/metrics')).body);
      assert.equal(samples.find((s) => s.name === 'app_up')?.value, 1);
      assert.deepEqual(
        samples.filter((s) => s.name === 'infctl_readiness_check').map((s) => [s.labels.check, s.value]),
        [['temporal', 0]],
      );
      assert.equal((await get('/other')).status, 404);
      assert.equal((await fetch(`${url}/readyz`, { method: 'POST' })).status, 405);
    } finally {
      server.close();
    }
  });

  it('parses host:port and :port, and refuses anything else naming the setting', () => {
    assert.deepEqual(parseAddress('0.0.0.0:9090'), { host: '0.0.0.0', port: 9090 });
    assert.deepEqual(parseAddress(':9091'), { port: 9091 });
    assert.deepEqual(parseAddress('[::1]:9090'), { host: '::1', port: 9090 });
    assert.throws(
      () => parseAddress('9090', 'INFCTL_WORKER_METRICS_ADDRESS'),
      /INFCTL_WORKER_METRICS_ADDRESS must be host:port, not "9090"/,
    );
    assert.throws(() => parseAddress('host:'), /host:port/);
    assert.throws(() => parseAddress('host:70000'), /host:port/);
  });
});
