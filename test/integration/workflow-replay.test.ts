/**
 * Running workflows replay their histories with the code of the worker that picks them up: a change to
 * workflow code that is not behind `patched()` fails here. The histories in test/fixtures/histories were
 * recorded by record.ts there: `before-16-*` with the workflow code of 98b5aef (before issue 16's workflow
 * changes), `after-16-*` with those changes (their patch markers in history), `after-16c-*` with the ticks'
 * reads as local activities (patch 'tick-reads-local'), `after-16d-*` with a reconcile's reads local too
 * ('reconcile-reads-local') and the loop on one poll timer ('poll-timer'); all replay with today's code. And a
 * history recorded here, now, with today's code replays with it: a local activity moves the code after it into
 * the next workflow task when first run but not on replay, which only a replay of such a history shows.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { recordHistories } from '../fixtures/histories/recording.ts';
import { localWorkflowEnvironment } from '../helpers/workflow-env.ts';

const HISTORIES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'histories');
const WORKFLOWS = fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url));
const SUFFIX = '.history.bin';
const files = readdirSync(HISTORIES).filter((f) => f.endsWith(SUFFIX));

describe('recorded workflow histories replay with the current workflow code', () => {
  it('has histories to replay, of every kind whose workflow issue 16 changed', () => {
    for (const workflow of [
      'InferenceCacheWorkflow',
      'InferenceServiceWorkflow',
      'SpeculativeDecodingWorkflow',
      'PrefillDecodingDisaggregationWorkflow',
    ])
      assert.ok(
        files.some((f) => f.endsWith(`-${workflow}${SUFFIX}`)),
        `no recorded history of ${workflow} in ${HISTORIES}`,
      );
  });

  it('replays every one without a nondeterminism error', async () => {
    const histories = files.map((file) => ({
      workflowId: file.slice(0, -SUFFIX.length),
      history: proto.temporal.api.history.v1.History.decode(readFileSync(join(HISTORIES, file))),
    }));
    assert.deepEqual(await replayFailures(histories), []);
  });

  it("records a history of each kind with today's code, and replays it with that code", async () => {
    const env = await localWorkflowEnvironment();
    try {
      const recorded = await recordHistories(env, 'replay-today');
      assert.equal(recorded.length, 4);
      const histories = recorded.map(({ workflow, history }) => ({
        workflowId: `today-${workflow}`,
        history,
      }));
      for (const { workflowId, history } of histories)
        assert.ok((history.events?.length ?? 0) > 20, `${workflowId}: only ${history.events?.length} events`);
      // The ticks' reads are local activities in these three: their markers are in the histories replayed.
      for (const workflow of [
        'InferenceCacheWorkflow',
        'InferenceServiceWorkflow',
        'SpeculativeDecodingWorkflow',
      ]) {
        const events = recorded.find((r) => r.workflow === workflow)?.history.events ?? [];
        assert.ok(
          events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity'),
          `${workflow}: no local activity marker in its history`,
        );
      }
      assert.deepEqual(await replayFailures(histories), []);
    } finally {
      await env.teardown();
    }
  });
});

async function replayFailures(histories: { workflowId: string; history: unknown }[]): Promise<string[]> {
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS }, histories))
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  return failures;
}
