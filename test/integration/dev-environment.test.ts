import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAlive } from '../../src/cli/dev/processes.ts';
import { binary } from '../../src/tools/components.ts';
import { components } from '../helpers/components.ts';

// A private environment in its own state folder, so this test can bring it up and down freely.
const stateDir = mkdtempSync(join(tmpdir(), 'infctl-dev-'));
const infctl = (...args: string[]) => {
  const r = spawnSync('./bin/infctl', args, {
    encoding: 'utf8',
    env: { ...process.env, INFCTL_STATE_DIR: stateDir },
    timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const envJson = () =>
  JSON.parse(readFileSync(join(stateDir, 'env.json'), 'utf8')) as {
    pids: Record<string, number>;
    ports: Record<string, number>;
    temporalAddress: string;
  };

describe('infctl dev up / status / env / down', () => {
  before(() => {
    components('etcd', 'kubernetes', 'kwok', 'temporal', 'redis');
    const up = infctl('dev', 'up');
    assert.equal(up.code, 0, up.err);
    assert.match(up.out, /ready in [0-9.]+s/);
  });
  after(() => infctl('dev', 'down'));

  it('says so instead of starting a second environment', () => {
    const pids = envJson().pids;
    const again = infctl('dev', 'up');
    assert.equal(again.code, 0);
    assert.match(again.out, /already running/);
    assert.deepEqual(envJson().pids, pids);
  });

  it('reports every component running', () => {
    const status = infctl('dev', 'status');
    assert.equal(status.code, 0, status.out);
    for (const name of [
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
      'temporal',
      'redis',
    ]) {
      assert.match(status.out, new RegExp(`${name}\\s+running`));
    }
  });

  it('prints export lines for the environment', () => {
    const env = infctl('dev', 'env');
    assert.equal(env.code, 0);
    const exports = Object.fromEntries(
      env.out
        .trim()
        .split('\n')
        .map((l) => /^export (\w+)="(.*)"$/.exec(l)?.slice(1, 3) as [string, string]),
    );
    assert.equal(exports.KUBECONFIG, join(stateDir, 'kubeconfig'));
    assert.equal(exports.TEMPORAL_ADDRESS, envJson().temporalAddress);
    assert.match(exports.REDIS_URL ?? '', /^redis:\/\/127\.0\.0\.1:\d+$/);
  });

  it('uses distinct kernel-assigned ports', () => {
    const ports = Object.values(envJson().ports);
    assert.equal(new Set(ports).size, ports.length);
  });

  it('registers the resource search attributes in Temporal', () => {
    const r = spawnSync(
      binary(components('temporal'), 'temporal'),
      ['operator', 'search-attribute', 'list', '--address', envJson().temporalAddress],
      { encoding: 'utf8' },
    );
    for (const name of ['CrKind', 'CrNamespace', 'CrName', 'ModelName', 'Phase'])
      assert.match(r.stdout, new RegExp(`${name}\\s+Keyword`));
  });

  it('serves the Temporal UI', async () => {
    const res = await fetch(`http://127.0.0.1:${envJson().ports.temporalUi}/`);
    assert.equal(res.status, 200);
  });

  it('leaves no process behind after down', async () => {
    const pids = Object.values(envJson().pids);
    const down = infctl('dev', 'down');
    assert.equal(down.code, 0);
    assert.match(down.out, /stopped/);
    assert.deepEqual(pids.filter(isAlive), []);
    const env = infctl('dev', 'env');
    assert.equal(env.code, 1);
  });
});
