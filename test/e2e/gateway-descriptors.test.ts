import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { freePort } from '../../src/cli/dev/processes.ts';
import { startSimulator, type Simulator } from '../helpers/components.ts';
import { chat, gatewayMetric, question, twoEndpoints, until } from '../helpers/gateway.ts';
import { getText, openFds, post, sendBad, SIM_ARGS, warmUp } from '../helpers/bad-requests.ts';

/**
 * `infctl gateway` as a child process, its open-file limit lowered to `limit` with `prlimit --pid` once it
 * listens (loading the CLI from source opens hundreds of module files at once, which a 256 limit can refuse
 * at start-up on a busy machine; what is tested is the gateway serving at the limit); stopped by its own pid.
 */
async function startLimitedGateway(
  config: object,
  limit: number,
): Promise<{ url: string; pid: number; child: ChildProcess; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'infctl-gw-limit-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, stringify(config));
  const port = await freePort();
  const child = spawn(
    './bin/infctl',
    ['gateway', '--config', file, '--port', String(port), '--host', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await until(
    'the limited gateway listening',
    async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : undefined),
    15_000,
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${output}`);
  });
  execFileSync('prlimit', [`--nofile=${limit}:${limit}`, '--pid', String(child.pid)]);
  return { url, pid: child.pid!, child, output: () => output };
}

describe('gateway at a 256 open-file limit', () => {
  const sims: Simulator[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) sims.push(await startSimulator({ args: SIM_ARGS }));
  });
  after(() => {
    for (const s of sims) s.stop();
  });

  it('1,000 bad requests do not eject a healthy endpoint', async () => {
    const gateway = await startLimitedGateway(twoEndpoints(sims), 256);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const limits = execFileSync('prlimit', [
        '--nofile',
        '--noheadings',
        '--pid',
        String(gateway.pid),
      ]).toString();
      assert.match(limits, /\b256\s+256\b/, limits);
      await warmUp(gateway.url, 16, agent);
      const fdsBefore = openFds(gateway.pid);
      const started = performance.now();
      await sendBad(gateway.url, 1000, 16, agent);
      const elapsed = performance.now() - started;
      const fdsAfter = await until(
        'the gateway closed what the bad requests opened',
        async () => {
          const fds = openFds(gateway.pid);
          return fds <= fdsBefore ? fds : undefined;
        },
        5000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${fdsBefore} -> ${openFds(gateway.pid)} fds\n${gateway.output()}`);
      });
      console.log(
        `gateway under prlimit 256: fds ${fdsBefore} -> ${fdsAfter} after 1,000 bad requests in ${elapsed.toFixed(0)} ms`,
      );
      assert.equal(await gatewayMetric(gateway.url, 'infctl_gateway_ejections_total'), 0, gateway.output());
      assert.doesNotMatch(gateway.output(), /EMFILE|ejected endpoint/);
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await chat(gateway.url, question(`after ${i}`));
        assert.equal(r.status, 200);
        served.add(r.headers.get('x-inference-endpoint') ?? '');
      }
      assert.deepEqual([...served].sort(), ['sim-0', 'sim-1']);
    } finally {
      agent.destroy();
      gateway.child.kill('SIGTERM');
    }
  });
});

describe('gateway out of descriptors', () => {
  const sims: Simulator[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) sims.push(await startSimulator());
  });
  after(() => {
    for (const s of sims) s.stop();
  });

  it('answers 503 gateway_overloaded on EMFILE, blames no endpoint, and serves again once descriptors are free', async () => {
    const limit = 256;
    const gateway = await startLimitedGateway(twoEndpoints(sims), limit);
    // Connections accepted before the descriptors run out; /health needs no upstream connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const idle: Socket[] = [];
    try {
      await Promise.all(Array.from({ length: 4 }, () => getText(gateway.url, '/health', agent)));
      const port = Number(new URL(gateway.url).port);
      for (let i = 0; i < limit + 32; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        idle.push(socket);
      }
      await until(
        'the gateway out of descriptors',
        async () => (openFds(gateway.pid) >= limit - 1 ? true : undefined),
        5000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${openFds(gateway.pid)} fds\n${gateway.output()}`);
      });
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          post(gateway.url, JSON.stringify(question(`starved ${i}`)), agent),
        ),
      );
      // A descriptor freed meanwhile may carry one of them; the others find none.
      const overloaded = answers.filter((a) => a.status === 503 && a.error?.code === 'gateway_overloaded');
      for (const a of answers) assert.ok(a.status === 200 || overloaded.includes(a), JSON.stringify(a));
      assert.ok(overloaded.length >= 4, `${overloaded.length} of 8 were gateway_overloaded`);
      console.log(
        `out of descriptors (${openFds(gateway.pid)} of ${limit}): ${overloaded.length} of 8 requests 503 gateway_overloaded`,
      );
      // Two scrape intervals pass while out of descriptors: the failed health checks are the gateway's own.
      await new Promise((r) => setTimeout(r, 2500));
      const metrics = await getText(gateway.url, '/metrics', agent);
      assert.doesNotMatch(metrics, /infctl_gateway_ejections_total\{[^}]*\} [1-9]/);
      for (const socket of idle) socket.destroy();
      await until(
        'descriptors released',
        async () => (openFds(gateway.pid) < limit / 2 ? true : undefined),
        5000,
      );
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await chat(gateway.url, question(`fed ${i}`));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        served.add(r.headers.get('x-inference-endpoint') ?? '');
      }
      assert.deepEqual([...served].sort(), ['sim-0', 'sim-1']);
      assert.equal(await gatewayMetric(gateway.url, 'infctl_gateway_ejections_total'), 0);
      assert.doesNotMatch(gateway.output(), /ejected endpoint|is unhealthy/);
    } finally {
      for (const socket of idle) socket.destroy();
      agent.destroy();
      gateway.child.kill('SIGTERM');
    }
  });
});
