import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ServingPlan } from '../../src/api/index.ts';
import { binary } from '../../src/tools/components.ts';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.ts';
import type { RolloutHooks } from '../../src/runtime/replica-runtime.ts';
import { components } from '../helpers/components.ts';

const plan = (replicas: number, digest: string): ServingPlan => ({
  namespace: 'demo',
  owner: { name: 'chat', uid: 'uid-1' },
  backend: 'chat-backend',
  modelName: 'llama3-70b',
  model: 'llama3-70b',
  engine: 'simulator',
  image: 'unused',
  port: 8000,
  gpuResource: 'nvidia.com/gpu',
  env: [{ name: 'INFCTL_REPLICA_MARKER', value: 'from-runtime-env' }],
  groups: [
    { name: 'chat-backend', role: 'both', replicas, args: ['--block-size', '32'], gpus: 1, nodeSelector: {} },
  ],
  digest,
});

/** Outside an activity: no heartbeat, a plain timer. */
const hooks: RolloutHooks = { heartbeat() {}, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** The environment of a running process, from /proc. */
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

describe('the process runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'infctl-replicas-'));
  const simulator = binary(components('llm-d-inference-sim'), 'llm-d-inference-sim');
  const runtime = new ProcessRuntime({ dir, simulator });
  after(() => runtime.deleteOwned('demo', 'chat'));

  it('starts one simulator per replica on distinct ports with only the flags it accepts, and they serve', async () => {
    const result = await runtime.apply(plan(2, 'd1'), 1);
    assert.deepEqual(result, { applied: ['Process/chat-backend-0', 'Process/chat-backend-1'], deleted: [] });
    const ready = await runtime.awaitReady(plan(2, 'd1'), 1, 30_000, hooks);
    assert.equal(ready.ok, true, ready.message);
    const records = runtime.records('demo', 'chat');
    assert.notEqual(records[0]!.port, records[1]!.port);
    // The whole command line is pinned in test/unit/engine-command.test.ts; here: its own port and the group's
    // block size, and the simulator, which exits 0 on a flag it does not know, lists each flag in its --help.
    const command = records[0]!.command.join(' ');
    assert.ok(command.startsWith(`${simulator} --port ${records[0]!.port} `), command);
    assert.match(command, / --block-size 32 .*--enable-sleep-mode /);
    const help = spawnSync(simulator, ['--help'], { encoding: 'utf8' });
    for (const flag of records[0]!.command.filter((a) => a.startsWith('--')))
      assert.match(`${help.stdout}${help.stderr}`, new RegExp(`^\\s+${flag}\\b`, 'm'), `${flag} unknown`);
    const { replicas, readyReplicas, endpoints } = await runtime.observe(plan(2, 'd1'));
    assert.deepEqual([replicas, readyReplicas], [2, 2]);
    assert.deepEqual(
      endpoints.map((e) => [e.role, e.ready]),
      [
        ['both', true],
        ['both', true],
      ],
    );
    const answer = await fetch(`${endpoints[0]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'llama3-70b',
        max_tokens: 3,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    assert.equal(answer.status, 200);
    // Dev mode and sleep mode are on: the cache loop can evict with a sleep/wake cycle.
    assert.equal((await fetch(`${endpoints[0]!.url}/sleep`, { method: 'POST' })).status, 200);
    assert.equal((await fetch(`${endpoints[0]!.url}/wake_up`, { method: 'POST' })).status, 200);
  });

  it('adopts the running replicas when the same plan is applied again (a retried activity)', async () => {
    const pids = runtime.records('demo', 'chat').map((r) => r.pid);
    const again = await runtime.apply(plan(2, 'd1'), 1);
    assert.deepEqual(again.applied, ['Process/chat-backend-0', 'Process/chat-backend-1']);
    assert.deepEqual(
      runtime.records('demo', 'chat').map((r) => r.pid),
      pids,
    );
  });

  it("restarts a replica that exited, on the same port and with the plan's runtime.env, not ready until it serves", async () => {
    const [first] = runtime.records('demo', 'chat');
    assert.ok(environ(first!.pid).includes('INFCTL_REPLICA_MARKER=from-runtime-env'));
    process.kill(first!.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    // The restarted replica is reported not ready until the next observation finds it serving.
    const observed = await runtime.observe(plan(2, 'd1'));
    assert.deepEqual(
      observed.endpoints.map((e) => [e.name, e.ready]),
      [
        ['chat-backend-0', false],
        ['chat-backend-1', true],
      ],
    );
    const record = runtime.records('demo', 'chat')[0]!;
    assert.equal(record.port, first!.port);
    assert.equal(record.restarts, 1);
    assert.notEqual(record.pid, first!.pid);
    assert.ok(
      environ(record.pid).includes('INFCTL_REPLICA_MARKER=from-runtime-env'),
      'the restarted replica lost the runtime.env',
    );
    assert.equal((await runtime.awaitReady(plan(2, 'd1'), 1, 30_000, hooks)).ok, true);
  });

  it('scales down and replaces replicas when the plan changes, and deletes everything on request', async () => {
    const before = runtime.records('demo', 'chat')[0]!.pid;
    const changed = await runtime.apply(plan(1, 'd2'), 2);
    assert.deepEqual(changed, { applied: ['Process/chat-backend-0'], deleted: ['chat-backend-1'] });
    assert.equal((await runtime.awaitReady(plan(1, 'd2'), 2, 30_000, hooks)).ok, true);
    const pid = runtime.records('demo', 'chat')[0]!.pid;
    assert.notEqual(pid, before, 'a replica of another digest is replaced');
    assert.deepEqual(runtime.deleteOwned('demo', 'chat'), ['chat-backend-0']);
    await new Promise((r) => setTimeout(r, 500));
    assert.throws(() => process.kill(pid, 0));
  });
});
