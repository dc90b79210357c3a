import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { binary } from '../../src/tools/components.ts';
import { components } from '../helpers/components.ts';
import { CrKind, CrName } from './workflows/search-attributes.ts';
import type { tagResource } from './workflows/tag-resource.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

describe('Temporal dev server (temporal CLI, existing-path executable)', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: binary(components('temporal'), 'temporal') },
        searchAttributes: [CrKind, CrName],
        extraArgs: ['--log-level', 'warn'],
      },
    });
  });
  after(async () => {
    await env?.teardown();
  });

  it('runs a workflow whose search attribute is queryable', async () => {
    const taskQueue = `it-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./workflows/tag-resource.ts', import.meta.url)),
    });
    const name = `svc-${randomUUID().slice(0, 8)}`;
    const result = await worker.runUntil(
      env.client.workflow.execute<typeof tagResource>('tagResource', {
        taskQueue,
        workflowId: `InferenceService/default/${name}`,
        args: ['InferenceService', name],
      }),
    );
    assert.equal(result, `InferenceService/${name}`);

    // Visibility is eventually consistent: poll the list query briefly.
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = [];
      for await (const wf of env.client.workflow.list({
        query: `CrKind = "InferenceService" AND CrName = "${name}"`,
      })) {
        found.push(wf.workflowId);
      }
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(found, [`InferenceService/default/${name}`]);
    const description = await env.client.workflow.getHandle(`InferenceService/default/${name}`).describe();
    assert.deepEqual(description.typedSearchAttributes.get(CrKind), 'InferenceService');
  });
});
