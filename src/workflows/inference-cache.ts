/**
 * The InferenceCache workflow: publishes the cache settings to the services of its model (their rollouts pick
 * them up through the dependency index) and runs the observe-and-act loop. Every poll scrapes each replica;
 * cache-policy.ts turns the polls into windowed hit rates and decisions; an eviction is an activity whose
 * input carries the numbers that triggered it, so the Temporal history is the audit trail.
 */
import { continueAsNew, log, patched } from '@temporalio/workflow';
import type { InferenceCacheSpec } from '../api/index.ts';
import { parseDuration } from '../api/duration.ts';
import { RECONCILE_READS_PATCH, reconcileReads, steps, tickReads } from './activities.ts';
import { causeOf, evict, transfer } from './cache-loop-actions.ts';
import { forcedReason, registerCacheOverrides } from './cache-overrides.ts';
import { decide, emptyCacheLoopState, recordPoll, recordVerification } from './cache-policy.ts';
import {
  cacheReplicas,
  countAction,
  recordView,
  policyNow,
  type CacheData,
  type CacheState,
} from './cache-state.ts';
import { writeStatus } from './cache-status.ts';
import { initialState, runEntity } from './entity.ts';
import type { ResourceWorkflowInput } from './inference-service.ts';
import { MODEL_UPSERT_PATCH, showModelName } from './model-name.ts';
import type { ReplicaSample } from '../activities/vllm/cache-actions.ts';

export async function InferenceCacheWorkflow(input: ResourceWorkflowInput): Promise<void> {
  const state =
    (input.state as CacheState | undefined) ??
    initialState<InferenceCacheSpec, CacheData>(
      { kind: 'InferenceCache', ...input },
      {
        loop: emptyCacheLoopState(),
        services: [],
        pending: [],
        ...(input.pollIntervalMs !== undefined ? { pollOverrideMs: input.pollIntervalMs } : {}),
      },
    );

  registerCacheOverrides(state);
  /** The tick's reads: one activity (services, replicas and their metrics) or, in older histories, three. */
  const read = async (spec: InferenceCacheSpec, oneRead: boolean): Promise<ReplicaSample[]> => {
    if (!oneRead) return steps.scrapeCacheMetrics({ replicas: await cacheReplicas(state, spec) });
    const tick = await tickReads(MODEL_UPSERT_PATCH).readCacheTick({
      namespace: state.namespace,
      model: spec.modelName,
      cacheName: state.name,
    });
    state.data.services = tick.services;
    return tick.samples;
  };
  /** `at`: the tick's time, taken before its read (see tickReads); older histories took it after. */
  const poll = async (spec: InferenceCacheSpec, oneRead: boolean, at?: number) => {
    const samples = await read(spec, oneRead);
    const now = at ?? Date.now();
    const policy = policyNow(state, now);
    const view = recordPoll(state.data.loop, samples, now, policy);
    state.data.view = view;
    recordView(state, view, policy);
    const verified = recordVerification(state.data.loop, view);
    if (verified) log.info('transfer verified', { ...verified });
    const decision = decide(state.data.loop, view, now, policy);
    if (!decision) return;
    if (state.data.actionsPaused) {
      // Seen and reported, not acted on; the hysteresis keeps counting, so resuming acts on a standing condition.
      if (state.data.suppressed?.reason !== decision.reason) {
        log.info('cache action suppressed: automatic actions are paused', { ...decision });
        countAction(state, decision.action, false, 'suppressed');
      }
      state.data.suppressed = decision;
      return;
    }
    try {
      if (decision.action === 'Evict') await evict(state, decision.target, decision.reason, false);
      else await transfer(state, decision.target, decision.to ?? '', decision.reason, false);
    } catch (err) {
      // The replica left between the poll and the action, or refused: recorded; the next polls decide again.
      log.warn('automatic cache action failed', { ...decision, error: causeOf(err) });
    }
  };

  /** `servicesRead`: this tick's read already found the services. */
  const reconcile = async (spec: InferenceCacheSpec, force: boolean, servicesRead = false, at?: number) => {
    state.pollIntervalMs = state.data.pollOverrideMs ?? parseDuration(spec.pollInterval);
    showModelName(spec.modelName);
    if (!servicesRead) {
      // The status's time is taken before the read, as a tick's is (see tickReads).
      if (patched(RECONCILE_READS_PATCH)) at ??= Date.now();
      state.data.services = await reconcileReads().findServicesForModel({
        namespace: state.namespace,
        model: spec.modelName,
        cacheName: state.name,
      });
    }
    for (const request of state.data.pending.splice(0)) {
      try {
        await evict(state, request.replica, forcedReason(request.reason), true);
      } catch (err) {
        log.warn('forced eviction failed', { replica: request.replica, error: causeOf(err) });
      }
    }
    for (const request of (state.data.pendingTransfers ?? []).splice(0)) {
      try {
        await transfer(state, request.from, request.to, forcedReason(request.reason), true);
      } catch (err) {
        log.warn('forced transfer failed', { from: request.from, to: request.to, error: causeOf(err) });
      }
    }
    await writeStatus(state, force, at);
    if (force) state.reconciledGeneration = state.generation;
  };

  await runEntity(
    state,
    {
      reconcile: (s) => reconcile(s.spec, true),
      observe: async (s) => {
        // One activity for a tick's reads instead of three (issue 16); older histories replay with three.
        const oneRead = patched('cache-tick-one-read');
        const at = oneRead && patched('tick-reads-local') ? Date.now() : undefined;
        await poll(s.spec, oneRead, at);
        await reconcile(s.spec, false, oneRead, at);
      },
      details: (s) => ({
        poolHitRate: s.data.view?.poolHitRate,
        evictions: s.data.loop.evictions,
        transfers: s.data.loop.transfers,
        lastAction: s.data.loop.lastAction,
        actionsPaused: s.data.actionsPaused ?? false,
        policy: s.spec ? policyNow(s, Date.now()) : undefined,
      }),
    },
    (s) => continueAsNew({ namespace: s.namespace, name: s.name, state: s }),
  );
}
