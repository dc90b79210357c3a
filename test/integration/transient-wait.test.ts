import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities/index.ts';
import { renderPlan, type RenderInput } from '../../src/activities/vllm/render.ts';
import type { StatusUpdate } from '../../src/activities/kubernetes/resources.ts';
import { deletedSignal, specSignal, stateQuery, type EntitySnapshot } from '../../src/workflows/messages.ts';
import { specMessage } from '../helpers/specs.ts';
import { localWorkflowEnvironment, workflowWorker } from '../helpers/workflow-env.ts';
import { resourceWorkflowStart } from '../../src/temporal/start.ts';
import { InferenceServiceWorkflow } from '../../src/workflows/index.ts';

describe('a step that fails for a transient reason is waited out, and the wait is shown', () => {
  let env: TestWorkflowEnvironment;
  const startService = (taskQueue: string) =>
    env.client.workflow.start(InferenceServiceWorkflow, {
      ...resourceWorkflowStart({
        kind: 'InferenceService',
        namespace: 'default',
        name: 'svc',
        taskQueue,
        pollIntervalMs: 60_000,
      }),
    });
  before(async () => {
    env = await localWorkflowEnvironment();
  });
  after(async () => env?.teardown());

  it('applyDeployment refused by a failing server: WaitingForAPIServer in the phase and the status, then Ready', async () => {
    // Fakes stand in for a Kubernetes whose Deployment writes fail with 503 a few times (a webhook restarting,
    // say), while status writes go through: what the workflow shows while it waits is the subject here.
    let applies = 0;
    const writes: StatusUpdate[] = [];
    const activities: Partial<Activities> = {
      resolveServiceInputs: async () => ({ uid: 'uid-1', problems: [] }),
      renderVllmArgs: async (input: RenderInput) => renderPlan(input),
      applyDeployment: async () => {
        applies++;
        if (applies <= 5)
          throw ApplicationFailure.create({
            type: 'KubernetesUnavailable',
            message: 'PATCH /apis/apps/v1/namespaces/default/deployments/svc: 503 ServiceUnavailable',
          });
        return { applied: ['Deployment/svc'], deleted: [] };
      },
      awaitRollout: async () => ({ ok: true, message: 'revision 1 is available' }),
      observeEndpoints: async () => ({ replicas: 1, readyReplicas: 1, endpoints: [] }),
      writeStatus: async (update: StatusUpdate) => {
        writes.push(update);
        return true;
      },
      releaseFinalizer: async () => undefined,
    };
    const worker = await workflowWorker(env, 'transient-wait', activities);
    await worker.runUntil(async () => {
      const handle = await startService('transient-wait');
      await handle.signal(specSignal, specMessage('InferenceService', { modelName: 'm' }, 1));
      let waiting: EntitySnapshot | undefined;
      for (let i = 0; i < 200 && !waiting; i++) {
        const s = await handle.query(stateQuery);
        if (s.phase === 'WaitingForAPIServer') waiting = s;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(waiting, 'the phase showed the wait');
      assert.equal(waiting.waiting?.step, 'applyDeployment');
      assert.match(waiting.message ?? '', /applyDeployment: .*503 ServiceUnavailable/);
      for (let i = 0; i < 300; i++) {
        if ((await handle.query(stateQuery)).phase === 'Ready') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const final = await handle.query(stateQuery);
      await handle.terminate('test done');
      assert.equal(final.phase, 'Ready');
      assert.equal(final.waiting, undefined);
      assert.equal(applies, 6, 'four quick attempts, a wait, then the attempt that went through');

      const announced = writes.find((w) => w.conditions?.some((c) => c.reason === 'WaitingForAPIServer'));
      assert.ok(announced, 'the status said the service waits');
      assert.deepEqual(announced.conditions?.[0], {
        type: 'Progressing',
        status: 'True',
        reason: 'WaitingForAPIServer',
        message: `applyDeployment waits to retry: ${'PATCH /apis/apps/v1/namespaces/default/deployments/svc: 503 ServiceUnavailable'}`,
      });
      const ready = writes.findIndex((w) =>
        w.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      const ended = writes.findIndex((w) => w.event?.reason === 'WaitedForAPIServer');
      assert.ok(ready > writes.indexOf(announced), 'Ready after the wait');
      assert.ok(ended > 0 && writes[ended]?.resolveWaits === true, 'an Event says how long it waited');
      assert.match(writes[ended]?.event?.message ?? '', /^applyDeployment waited \d+ s: PATCH/);
    });
  });

  it('a deletion while a step runs cancels the step, tears down and completes the workflow', async () => {
    // A rollout that would wait for its whole timeout (pods never ready): the deletion must not wait for it.
    const calls: string[] = [];
    const activities: Partial<Activities> = {
      resolveServiceInputs: async () => ({ uid: 'uid-1', problems: [] }),
      renderVllmArgs: async (input: RenderInput) => renderPlan(input),
      applyDeployment: async () => ({ applied: ['Deployment/svc'], deleted: [] }),
      awaitRollout: async () => {
        calls.push('awaitRollout');
        const context = Context.current();
        for (;;) {
          context.heartbeat();
          await context.sleep(500);
        }
      },
      writeStatus: async () => true,
      deleteOwnedObjects: async () => {
        calls.push('deleteOwnedObjects');
        return ['Deployment/svc'];
      },
      releaseFinalizer: async () => {
        calls.push('releaseFinalizer');
      },
    };
    const worker = await workflowWorker(env, 'delete-mid-step', activities);
    await worker.runUntil(async () => {
      const handle = await startService('delete-mid-step');
      await handle.signal(
        specSignal,
        specMessage('InferenceService', { modelName: 'm', runtime: { rolloutTimeout: '10m' } }, 1),
      );
      for (let i = 0; i < 200 && !calls.includes('awaitRollout'); i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(calls, ['awaitRollout'], 'the rollout wait runs');
      const deleted = Date.now();
      await handle.signal(deletedSignal);
      const completed = await Promise.race([
        handle.result().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 20_000)),
      ]);
      const tookMs = Date.now() - deleted;
      assert.ok(completed, 'the workflow completed after the deletion, without waiting for the step');
      assert.ok(tookMs < 15_000, `completed ${tookMs} ms after the deletion`);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        events.some((e) => e.activityTaskCancelRequestedEventAttributes),
        'the rollout wait was cancelled, not left running',
      );
      assert.deepEqual(calls, ['awaitRollout', 'deleteOwnedObjects', 'releaseFinalizer']);
    });
  });
});
