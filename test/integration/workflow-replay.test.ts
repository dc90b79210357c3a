/**
 * Running workflows replay their histories with the code of the worker that picks them up: a change to
 * workflow code that is not behind `patched()` fails here. The histories in test/fixtures/histories were
 * recorded by record.ts there: `before-16-*` with the workflow code of 98b5aef (before issue 16's workflow
 * changes), `after-16-*` with those changes (their patch markers in history); both replay with today's code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

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
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS }, histories))
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    assert.deepEqual(failures, []);
  });
});
