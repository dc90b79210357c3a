import { continueAsNew, metricMeter, patched, upsertMemo } from '@temporalio/workflow';
import { parseDuration } from '../api/duration.ts';
import type { InferenceServiceSpec, Revision, ServingPlan } from '../api/index.ts';
import { Reason } from '../api/reasons.ts';
import { reconcileReads, rolloutSteps, steps, tickReads } from './activities.ts';
import { StepFailure } from './durable.ts';
import { initialState, runEntity, type EntityState, type SpecifiedState } from './entity.ts';
import { setPhase } from './phase.ts';
import { MODEL_UPSERT_PATCH, showModelName } from './model-name.ts';
import type { ResourceWorkflowArgs } from '../temporal/start.ts';

export interface ServiceData {
  /** The last few revisions rolled out, newest last, so a rollback can re-apply any of them. */
  revisions: Revision[];
  current?: number;
  lastGood?: number;
  nextRevision: number;
  /** Digest of the endpoints last written to status, so unchanged observations write nothing. */
  observedDigest?: string;
}

const KEEP_REVISIONS = 5;
const OBSERVED_AFTER_ROLLOUT = 'observed-after-rollout';
export type ServiceState = EntityState<InferenceServiceSpec, ServiceData>;
type Specified = SpecifiedState<InferenceServiceSpec, ServiceData>;

export interface ResourceWorkflowInput extends ResourceWorkflowArgs {
  /** Set when continuing as new. */
  state?: unknown;
}

const key = (s: ServiceState) => ({ kind: 'InferenceService', namespace: s.namespace, name: s.name });

async function report(
  state: ServiceState,
  phase: string,
  update: Omit<Parameters<typeof steps.writeStatus>[0], 'kind' | 'namespace' | 'name'>,
) {
  setPhase(state, phase, update.conditions?.find((c) => c.type === 'Ready')?.message);
  await steps.writeStatus({ ...key(state), ...update, fields: { phase, ...(update.fields ?? {}) } });
}

/** Exported by the worker's Prometheus endpoint (not on replay); buckets in src/cli/engine.ts. */
const rolloutDuration = () =>
  metricMeter.createHistogram(
    'inference_service_rollout_duration_seconds',
    'float',
    // No unit: the worker's exporter would append it to the name, which already ends in _seconds.
    '',
    'A revision applied until its replicas are ready or the rollout failed, by outcome (complete, failed)',
  );

/** Applies a revision and waits for it; an object the API server refuses is a failed rollout, not a retry. */
async function rollout(
  target: Revision,
  timeoutMs: number,
): Promise<{ ok: boolean; message: string; reason: string }> {
  try {
    await steps.applyDeployment({ plan: target.plan, revision: target.revision });
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    return {
      ok: false,
      reason: err.failureType,
      message: `revision ${target.revision} was refused: ${err.message}`,
    };
  }
  const outcome = await rolloutSteps(timeoutMs).awaitRollout({
    plan: target.plan,
    revision: target.revision,
    timeoutMs,
  });
  return { ...outcome, reason: Reason.RolloutFailed };
}

function remember(state: ServiceState, revision: Revision) {
  state.data.revisions = [
    ...state.data.revisions.filter((r) => r.revision !== revision.revision),
    revision,
  ].slice(-KEEP_REVISIONS);
}

async function reconcile(state: Specified): Promise<void> {
  const spec = state.spec;
  const generation = state.generation;
  const revisionOf = (n: number | undefined) => state.data.revisions.find((r) => r.revision === n);
  const timeoutMs = parseDuration(spec.runtime.rolloutTimeout);

  let target: Revision | undefined;
  if (state.rollbackTo !== undefined) {
    target = revisionOf(state.rollbackTo);
    state.rollbackTo = undefined;
    if (!target) return;
  } else {
    const inputs = await reconcileReads(MODEL_UPSERT_PATCH).resolveServiceInputs({
      namespace: state.namespace,
      name: state.name,
      spec,
    });
    if (!inputs) return; // the resource is gone; the deleted signal follows
    if (inputs.problems.length > 0) {
      const message = inputs.problems.join('; ');
      // Rechecked on every tick until it resolves: report (and record an Event) only when something changed.
      if (
        state.phase === 'InvalidSpec' &&
        state.message === message &&
        state.reconciledGeneration === generation
      )
        return;
      state.reconciledGeneration = generation;
      await report(state, 'InvalidSpec', {
        observedGeneration: generation,
        conditions: [
          {
            type: 'InvalidSpec',
            status: 'True',
            reason: inputs.invalidSpec ? Reason.SpecInvalid : Reason.ReferenceNotResolved,
            message,
          },
          {
            type: 'Ready',
            status: state.data.lastGood ? 'True' : 'False',
            reason: Reason.InvalidSpec,
            message,
          },
        ],
        event: { type: 'Warning', reason: Reason.InvalidSpec, message },
      });
      return;
    }
    showModelName(spec.modelName);
    const plan: ServingPlan = await reconcileReads().renderVllmArgs({
      namespace: state.namespace,
      name: state.name,
      uid: inputs.uid,
      spec,
      ...(inputs.cache ? { cache: inputs.cache } : {}),
      ...(inputs.pdd ? { pdd: inputs.pdd } : {}),
      ...(inputs.sd ? { sd: inputs.sd } : {}),
    });
    const current = revisionOf(state.data.current);
    if (current && current.plan.digest === plan.digest && state.data.lastGood === current.revision) {
      state.reconciledGeneration = generation;
      await report(state, 'Ready', {
        observedGeneration: generation,
        fields: {
          revision: current.revision,
          lastGoodRevision: current.revision,
          args: current.plan.groups[0]?.args,
        },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: Reason.RolloutComplete,
            message: `revision ${current.revision} is serving`,
          },
          { type: 'InvalidSpec', status: 'False', reason: Reason.SpecValid },
          { type: 'Progressing', status: 'False', reason: Reason.NothingToDo },
        ],
      });
      return;
    }
    target = { revision: state.data.nextRevision++, plan };
  }

  remember(state, target);
  state.data.current = target.revision;
  upsertMemo({ revision: target.revision, generation });
  await report(state, 'Progressing', {
    observedGeneration: generation,
    fields: { revision: target.revision, args: target.plan.groups[0]?.args },
    conditions: [
      { type: 'InvalidSpec', status: 'False', reason: Reason.SpecValid },
      {
        type: 'Progressing',
        status: 'True',
        reason: Reason.RollingOut,
        message: `rolling out revision ${target.revision}`,
      },
    ],
  });
  const started = Date.now();
  const outcome = await rollout(target, timeoutMs);
  rolloutDuration().record((Date.now() - started) / 1000, {
    resource: `${state.namespace}/${state.name}`,
    outcome: outcome.ok ? 'complete' : 'failed',
  });
  state.reconciledGeneration = generation;
  if (outcome.ok) {
    state.data.lastGood = target.revision;
    const observed = await reconcileReads(OBSERVED_AFTER_ROLLOUT).observeEndpoints({ plan: target.plan });
    // The next tick's observation finds what this report wrote and writes nothing (it wrote it once more
    // after every rollout; issue 16). Older histories replay with that write.
    if (patched(OBSERVED_AFTER_ROLLOUT)) state.data.observedDigest = JSON.stringify(observed);
    await report(state, 'Ready', {
      observedGeneration: generation,
      fields: {
        revision: target.revision,
        lastGoodRevision: target.revision,
        replicas: observed.replicas,
        readyReplicas: observed.readyReplicas,
        endpoints: observed.endpoints,
      },
      conditions: [
        { type: 'Ready', status: 'True', reason: Reason.RolloutComplete, message: outcome.message },
        { type: 'Progressing', status: 'False', reason: Reason.RolloutComplete, message: outcome.message },
        { type: 'Degraded', status: 'False', reason: Reason.RolloutComplete },
      ],
    });
    return;
  }
  // The new revision cannot serve: put the last good one back and say why.
  const good = revisionOf(state.data.lastGood);
  let message = outcome.message;
  if (good && good.revision !== target.revision) {
    state.data.current = good.revision;
    const back = await rollout(good, timeoutMs);
    message += back.ok
      ? `; rolled back to revision ${good.revision}, which is serving`
      : `; rollback to revision ${good.revision} failed too: ${back.message}`;
  }
  const serving = good !== undefined && good.revision !== target.revision;
  await report(state, 'Degraded', {
    observedGeneration: generation,
    fields: { revision: state.data.current, lastGoodRevision: state.data.lastGood },
    conditions: [
      { type: 'Degraded', status: 'True', reason: outcome.reason, message },
      { type: 'Progressing', status: 'False', reason: outcome.reason, message },
      {
        type: 'Ready',
        status: serving ? 'True' : 'False',
        reason: serving ? Reason.PreviousRevisionServing : outcome.reason,
        message,
      },
    ],
    // awaitRollout records its own failures; a refused object is recorded here.
    ...(outcome.reason !== Reason.RolloutFailed
      ? { event: { type: 'Warning' as const, reason: outcome.reason, message } }
      : {}),
  });
}

async function observe(state: Specified): Promise<void> {
  if (state.phase === 'InvalidSpec') {
    // A missing reference may have appeared since.
    state.dirty = true;
    return;
  }
  const current = state.data.revisions.find((r) => r.revision === state.data.current);
  if (!current) return;
  const observed = await tickReads().observeEndpoints({ plan: current.plan });
  if (
    state.phase === 'Degraded' &&
    state.data.lastGood !== current.revision &&
    observed.replicas > 0 &&
    observed.readyReplicas >= observed.replicas
  ) {
    // A rollout reported failed (pods unschedulable until a GPU node joined, ...) that is serving after all.
    state.data.lastGood = current.revision;
    const message = `revision ${current.revision} became available after its rollout was reported failed`;
    await report(state, 'Ready', {
      observedGeneration: state.reconciledGeneration,
      fields: {
        revision: current.revision,
        lastGoodRevision: current.revision,
        replicas: observed.replicas,
        readyReplicas: observed.readyReplicas,
        endpoints: observed.endpoints,
      },
      conditions: [
        { type: 'Ready', status: 'True', reason: Reason.RolloutComplete, message },
        { type: 'Progressing', status: 'False', reason: Reason.RolloutComplete, message },
        { type: 'Degraded', status: 'False', reason: Reason.RolloutComplete },
      ],
      event: { type: 'Normal', reason: Reason.RolloutComplete, message },
    });
    return;
  }
  const digest = JSON.stringify(observed);
  if (digest === state.data.observedDigest) return;
  state.data.observedDigest = digest;
  await steps.writeStatus({
    ...key(state),
    fields: {
      replicas: observed.replicas,
      readyReplicas: observed.readyReplicas,
      endpoints: observed.endpoints,
    },
  });
}

async function teardown(state: ServiceState): Promise<void> {
  const deleted = await steps.deleteOwnedObjects({ namespace: state.namespace, name: state.name });
  state.message = `deleted ${deleted.join(', ') || 'nothing'}`;
}

export async function InferenceServiceWorkflow(input: ResourceWorkflowInput): Promise<void> {
  const state =
    (input.state as ServiceState | undefined) ??
    initialState<InferenceServiceSpec, ServiceData>(
      { kind: 'InferenceService', ...input },
      { revisions: [], nextRevision: 1 },
    );
  await runEntity(
    state,
    {
      reconcile,
      observe,
      teardown,
      details: (s) => ({
        revision: s.data.current,
        lastGoodRevision: s.data.lastGood,
        revisions: s.data.revisions.map((r) => r.revision),
      }),
    },
    (s) => continueAsNew<typeof InferenceServiceWorkflow>({ namespace: s.namespace, name: s.name, state: s }),
    { rollbackRevisions: (s) => s.data.revisions.map((r) => r.revision) },
  );
}
