import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readEnvironment, runningProcesses } from '../../src/cli/dev/environment.ts';
import { freePort } from '../../src/cli/dev/processes.ts';
import { REPO_ROOT } from '../../src/tools/components.ts';

// On this machine podman needs runc, cgroupfs and explicit limits (its defaults exceed the sandbox's).
const PODMAN = ['--runtime', 'runc', '--cgroup-manager=cgroupfs'];
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];
const RUN = ['run', '--rm', ...LIMITS];
/** Detached, kept after it exits so its logs can be read; the test removes it. */
const DETACHED = ['run', '--detach', ...LIMITS];

/** A folder to mount into the image, readable by its user (uid 10001). */
function sharedDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

function podman(args: string[], timeout = 120_000) {
  const out = spawnSync('podman', [...PODMAN, ...args], { encoding: 'utf8', timeout });
  return { code: out.status, stdout: out.stdout ?? '', stderr: out.stderr ?? '' };
}

describe('the container image', { timeout: 30 * 60_000 }, () => {
  let image = '';

  before(() => {
    const started = Date.now();
    const build = spawnSync(join(REPO_ROOT, 'scripts', 'build-image.sh'), [], {
      encoding: 'utf8',
      timeout: 25 * 60_000,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    assert.equal(build.status, 0, 'scripts/build-image.sh failed (its log is above)');
    image = build.stdout.trim().split('\n').at(-1) ?? '';
    const size = Number(podman(['image', 'inspect', '--format', '{{.Size}}', image]).stdout.trim());
    console.log(
      `image ${image}: ${(size / 1e6).toFixed(0)} MB, build (or cache check) ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  it('runs infctl as a non-root user, with the workflow bundle prebuilt', () => {
    const id = podman([...RUN, '--entrypoint', 'id', image, '-u']);
    assert.equal(id.code, 0, id.stderr);
    assert.equal(id.stdout.trim(), '10001');
    const bundle = podman([...RUN, '--entrypoint', 'test', image, '-s', '/app/dist/workflow-bundle.js']);
    assert.equal(bundle.code, 0, 'no /app/dist/workflow-bundle.js in the image');
    const help = podman([...RUN, image, '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const command of ['infctl controller', 'infctl worker', 'infctl gateway'])
      assert.match(help.stdout, new RegExp(command));
  });

  it('validates the examples baked into it', () => {
    const original = podman([...RUN, image, 'validate', 'examples/original']);
    assert.equal(original.code, 0, original.stdout + original.stderr);
    assert.match(original.stdout, /5 file\(s\), 5 valid resource\(s\), 0 error\(s\)/);
    const complete = podman([...RUN, image, 'validate', '--strict', 'examples/complete']);
    assert.equal(complete.code, 0, complete.stdout + complete.stderr);
  });

  it('computes sentence embeddings with the baked-in weights, offline', () => {
    // A file, not `node -e`: the embedder's worker thread inherits the process's flags.
    const dir = sharedDir('infctl-image-embed-');
    try {
      writeFileSync(
        join(dir, 'embed.mjs'),
        [
          "const { MiniLmEmbedder } = await import('/app/dist/gateway/embedding/local-embedder.js');",
          'const e = new MiniLmEmbedder(process.env.INFCTL_EMBEDDER_DIR);',
          "const [v] = await e.embed(['How do I reset my password?']);",
          'console.log(v.length, Math.hypot(...v).toFixed(3));',
          'await e.close();',
        ].join('\n'),
      );
      const out = podman([
        ...RUN,
        '--network',
        'none',
        '--volume',
        `${dir}:/check:ro`,
        '--entrypoint',
        'node',
        image,
        '/check/embed.mjs',
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), '384 1.000');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('infctl gateway --config', () => {
    const dir = sharedDir('infctl-image-');
    const name = `infctl-image-gateway-${process.pid}`;

    after(() => {
      podman(['rm', '--force', '--time', '2', name]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves /health with the routes of a static file', async () => {
      writeFileSync(
        join(dir, 'routes.yaml'),
        'models:\n  - model: m\n    services:\n      - name: s\n        endpoints: [{ url: http://127.0.0.1:9, name: e0 }]\n',
      );
      const port = await freePort();
      const started = podman([
        ...DETACHED,
        '--name',
        name,
        '--network',
        'host',
        '--volume',
        `${dir}:/config:ro`,
        image,
        'gateway',
        '--config',
        '/config/routes.yaml',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ]);
      assert.equal(started.code, 0, started.stderr);
      const deadline = Date.now() + 60_000;
      let health: { status?: string; models?: number } | undefined;
      while (Date.now() < deadline && !health) {
        health = await fetch(`http://127.0.0.1:${port}/health`)
          .then((r) => (r.ok ? (r.json() as Promise<typeof health>) : undefined))
          .catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(health, { status: 'ok', models: 1 }, podman(['logs', name]).stdout);
    });
  });

  describe('infctl worker', () => {
    const env = readEnvironment();
    const temporal = env !== undefined && runningProcesses(env).includes('temporal');
    const dir = sharedDir('infctl-image-worker-');
    const name = `infctl-image-worker-${process.pid}`;

    after(() => {
      podman(['rm', '--force', '--time', '2', name]);
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      'polls Temporal with the workflow bundle prebuilt at build time',
      { skip: temporal ? false : 'no local environment running (./bin/infctl dev up)' },
      async () => {
        if (!env) return;
        // The image runs as uid 10001: a readable copy of the environment's kubeconfig.
        copyFileSync(env.kubeconfig, join(dir, 'kubeconfig'));
        chmodSync(join(dir, 'kubeconfig'), 0o644);
        const queue = `image-smoke-${process.pid}`;
        const started = podman([
          ...DETACHED,
          '--name',
          name,
          '--network',
          'host',
          '--volume',
          `${dir}:/config:ro`,
          '--env',
          'KUBECONFIG=/config/kubeconfig',
          '--env',
          `TEMPORAL_ADDRESS=${env.temporalAddress}`,
          '--env',
          `TEMPORAL_NAMESPACE=${env.temporalNamespace}`,
          '--env',
          `TEMPORAL_TASK_QUEUE=${queue}`,
          image,
          'worker',
        ]);
        assert.equal(started.code, 0, started.stderr);
        const since = Date.now();
        const deadline = since + 60_000;
        let logs = '';
        while (Date.now() < deadline && !/state: 'RUNNING'/.test(logs)) {
          await new Promise((r) => setTimeout(r, 500));
          const out = podman(['logs', name]);
          logs = out.stdout + out.stderr;
        }
        assert.match(logs, /state: 'RUNNING'/);
        console.log(`worker in the image polling after ${((Date.now() - since) / 1000).toFixed(1)} s`);
        assert.match(logs, new RegExp(`task queue "${queue}"`));
      },
    );
  });
});
