import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/cli/dev/processes.ts';
import { startSimulator, type Simulator } from '../helpers/components.ts';
import {
  chat,
  gatewayMetric,
  MODEL,
  question,
  roundRobinOver,
  startGateway,
  twoEndpoints,
  until,
  type RunningGateway,
} from '../helpers/gateway.ts';

describe('gateway resilience', () => {
  let live: Simulator;

  before(async () => {
    live = await startSimulator();
  });
  after(() => live.stop());

  it('retries on another endpoint when the connection fails, then ejects the dead endpoint', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    // Health checks effectively off: the passive path alone must cope.
    const gw = await startGateway(
      roundRobinOver([
        { url: dead, name: 'dead' },
        { url: live.url, name: 'live' },
      ]),
      { scrape: { intervalMs: 3_600_000, timeoutMs: 500, unhealthyAfter: 2 } },
    );
    try {
      gw.gateway.endpoints.stop();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => chat(gw.url, question(`q${i}`))));
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-inference-endpoint'), 'live');
      }
      assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_retries_total')) >= 1);
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'dead' }), 1);
      assert.ok(gw.logs.some((l) => l.startsWith('ejected endpoint dead')));
      const retriesBefore = await gatewayMetric(gw.url, 'infctl_gateway_retries_total');
      for (let i = 0; i < 4; i++) assert.equal((await chat(gw.url, question(`after ${i}`))).status, 200);
      assert.equal(
        await gatewayMetric(gw.url, 'infctl_gateway_retries_total'),
        retriesBefore,
        'an ejected endpoint was tried',
      );
    } finally {
      await gw.stop();
    }
  });

  it('health checks take a failing endpoint out of the candidates before any request fails on it', async () => {
    const flaky = await startSimulator();
    const gw = await startGateway(
      roundRobinOver([
        { url: flaky.url, name: 'flaky' },
        { url: live.url, name: 'live' },
      ]),
    );
    try {
      flaky.stop();
      await until('flaky marked unhealthy', async () =>
        gw.gateway.endpoints.all().find((e) => e.name === 'flaky')?.healthy === false ? true : undefined,
      );
      for (let i = 0; i < 4; i++)
        assert.equal((await chat(gw.url, question(`h${i}`))).headers.get('x-inference-endpoint'), 'live');
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_retries_total'), 0);
    } finally {
      await gw.stop();
    }
  });

  it('answers 503 no_healthy_upstream when no endpoint can take the request', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const gw = await startGateway({
      models: [{ model: MODEL, services: [{ name: 's', endpoints: [{ url: dead }] }] }],
    });
    try {
      await until('dead marked unhealthy', async () =>
        gw.gateway.endpoints.all()[0]?.healthy === false ? true : undefined,
      );
      const r = await chat(gw.url, question('x'));
      assert.equal(r.status, 503);
      assert.equal((r.json.error as { code: string }).code, 'no_healthy_upstream');
    } finally {
      await gw.stop();
    }
  });
});

/** The simulator's process, found by its listening port (the helper does not expose it). */
function pidOf(sim: Simulator): number {
  const line = execFileSync('ss', ['-Hltnp', `sport = :${sim.port}`]).toString();
  const pid = /pid=(\d+)/.exec(line)?.[1];
  assert.ok(pid, `no process listens on ${sim.port}: ${line}`);
  return Number(pid);
}

describe('a hung engine', () => {
  let hung: Simulator;
  let healthy: Simulator;
  let busy: Simulator;
  let gw: RunningGateway;
  const FIRST_BYTE_MS = 1000;

  before(async () => {
    hung = await startSimulator();
    healthy = await startSimulator();
    busy = await startSimulator({ args: ['--time-to-first-token', '2500ms'] });
    gw = await startGateway(
      {
        ...twoEndpoints([hung, healthy]),
        models: [
          ...twoEndpoints([hung, healthy]).models,
          {
            model: 'busy',
            services: [{ name: 'busy', backendModel: MODEL, endpoints: [{ url: busy.url, name: 'busy' }] }],
          },
        ],
      },
      {
        timeouts: { connectMs: 2000, responseMs: 600_000, idleMs: 300_000, firstByteMs: FIRST_BYTE_MS },
        // Health checks off: the first-byte timeout alone must find the hung engine.
        scrape: { intervalMs: 3_600_000, timeoutMs: 500, unhealthyAfter: 2 },
      },
    );
    gw.gateway.endpoints.stop();
  });
  after(async () => {
    await gw.stop();
    for (const s of [hung, healthy, busy]) s.stop();
  });

  it('is ejected within the first-byte timeout and its requests are served by the other endpoint', async () => {
    const pid = pidOf(hung);
    process.kill(pid, 'SIGSTOP');
    try {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const r = await chat(gw.url, question(`hung ${i}`));
          return {
            status: r.status,
            endpoint: r.headers.get('x-inference-endpoint'),
            ms: performance.now() - started,
          };
        }),
      );
      const slowest = Math.max(...answers.map((a) => a.ms));
      console.log(
        `6 requests, 3 first sent to the stopped engine: all answered within ${slowest.toFixed(0)} ms`,
      );
      for (const a of answers) assert.deepEqual([a.status, a.endpoint], [200, 'sim-1']);
      // first-byte timeout + the /health probe's 500 ms + the retry's own answer
      assert.ok(slowest < FIRST_BYTE_MS + 500 + 1000, `slowest answer after ${slowest.toFixed(0)} ms`);
      assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'sim-0' }), 1);
      assert.ok(gw.logs.some((l) => /sim-0 .*does not answer \/health: hung/.test(l) || /hung/.test(l)));
      const next = await chat(gw.url, question('after the ejection'));
      assert.equal(next.headers.get('x-inference-endpoint'), 'sim-1');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('keeps waiting on an engine that is slow to answer but alive', async () => {
    const started = performance.now();
    const r = await chat(gw.url, question('take your time', { model: 'busy' }));
    const elapsed = performance.now() - started;
    assert.deepEqual([r.status, r.headers.get('x-inference-endpoint')], [200, 'busy']);
    assert.ok(elapsed >= 2500, `answered after ${elapsed.toFixed(0)} ms`);
    assert.equal(await gatewayMetric(gw.url, 'infctl_gateway_ejections_total', { endpoint: 'busy' }), 0);
    assert.equal(gw.gateway.endpoints.all().find((e) => e.name === 'busy')?.consecutiveFailures, 0);
  });
});
