/**
 * The workflows of the kinds whose reconcile is "look at the cluster and report": SpeculativeDecoding, PrefillDecodingDisaggregation and InferenceGateway. Their effect on serving reaches the
 * InferenceServices through the controller's dependency index, which signals the services that link them.
 */
import { continueAsNew, patched } from '@temporalio/workflow';
import type {
  ConditionUpdate,
  InferenceGatewaySpec,
  PrefillDecodingDisaggregationSpec,
  SpeculativeDecodingSpec,
} from '../api/index.ts';
import type { SpecDecodeCounters } from '../activities/vllm/spec-decode.ts';
import { Reason } from '../api/reasons.ts';
import { steps, tickReads } from './activities.ts';
import { initialState, runEntity, type EntityState, type SpecifiedState } from './entity.ts';
import { setPhase } from './phase.ts';
import type { ResourceWorkflowInput } from './inference-service.ts';
import { MODEL_UPSERT_PATCH, showModelName } from './model-name.ts';
import { acceptanceRate, type DraftCounters } from './spec-decode-rate.ts';

interface ObservedData {
  /** Digest of the status last written, so an unchanged observation writes nothing. */
  written?: string;
  /** SpeculativeDecoding: the target replicas' draft counters at the last poll, and the rate they gave. */
  drafts?: DraftCounters;
  acceptanceRate?: number;
}

type ObservedState<S> = SpecifiedState<S, ObservedData>;

interface Report {
  ready: boolean;
  reason: string;
  message: string;
  fields: Record<string, unknown>;
  model?: string;
}

async function writeIfChanged<S>(state: ObservedState<S>, report: Report, force: boolean): Promise<void> {
  const digest = JSON.stringify(report);
  setPhase(state, report.ready ? 'Ready' : 'NotReady', report.message);
  if (!force && digest === state.data.written) return;
  state.data.written = digest;
  const conditions: ConditionUpdate[] = [
    {
      type: 'Ready',
      status: report.ready ? 'True' : 'False',
      reason: report.reason,
      message: report.message,
    },
    { type: 'InvalidSpec', status: 'False', reason: Reason.SpecValid },
  ];
  await steps.writeStatus({
    kind: state.kind,
    namespace: state.namespace,
    name: state.name,
    fields: report.fields,
    conditions,
    observedGeneration: state.generation,
  });
}

function observedWorkflow<S>(
  kind: string,
  look: (state: ObservedState<S>) => Promise<Report>,
  /** Stops what `look` started, when the resource is deleted (before its finalizer is released). */
  teardown?: (state: EntityState<S, ObservedData>) => Promise<void>,
) {
  const workflow = async (input: ResourceWorkflowInput): Promise<void> => {
    const state =
      (input.state as EntityState<S, ObservedData> | undefined) ??
      initialState<S, ObservedData>({ kind, ...input }, {});
    const step = async (state: ObservedState<S>, force: boolean) => {
      const report = await look(state);
      if (report.model) showModelName(report.model);
      await writeIfChanged(state, report, force);
      if (force) state.reconciledGeneration = state.generation;
    };
    await runEntity(
      state,
      {
        reconcile: (s) => step(s, true),
        observe: (s) => step(s, false),
        ...(teardown ? { teardown } : {}),
      },
      (s) => continueAsNew({ namespace: s.namespace, name: s.name, state: s }),
    );
  };
  // Clients start workflows by function; the type is the function's name, the name the worker exports it as.
  return Object.defineProperty(workflow, 'name', { value: `${kind}Workflow` });
}

export const SpeculativeDecodingWorkflow = observedWorkflow<SpeculativeDecodingSpec>(
  'SpeculativeDecoding',
  async (state) => {
    const spec = state.spec;
    const target = { namespace: state.namespace, model: spec.targetModel };
    let services: string[];
    let counters: SpecDecodeCounters | undefined;
    // One activity for a tick's reads instead of two (issue 16); older histories replay with two.
    if (patched('spec-decode-one-read')) {
      ({ services, counters } = await tickReads(MODEL_UPSERT_PATCH).readSpecDecodeTick(target));
    } else {
      services = await steps.findServicesForModel(target);
      // Workflows started before the rate was measured replay without this step.
      if (services.length > 0 && patched('spec-decode-acceptance-rate'))
        counters = await steps.scrapeSpecDecoding(target);
    }
    if (counters?.accepted !== undefined && counters.drafted !== undefined) {
      const current = { accepted: counters.accepted, drafted: counters.drafted };
      state.data.acceptanceRate = acceptanceRate(state.data.drafts, current, state.data.acceptanceRate);
      state.data.drafts = current;
    }
    const rate = state.data.acceptanceRate;
    return {
      ready: true,
      reason: services.length ? Reason.Published : Reason.NoServices,
      message: services.length
        ? `--speculative-config (${spec.method}, ${spec.numSpeculativeTokens} tokens) applies to ${services.join(', ')} through their InferenceCache${rate !== undefined ? `; ${(rate * 100).toFixed(1)}% of draft tokens accepted` : ''}`
        : `no InferenceService serves "${spec.targetModel}"`,
      fields: {
        services,
        ...(rate !== undefined ? { acceptanceRate: Math.round(rate * 1000) / 1000 } : {}),
      },
      model: spec.targetModel,
    };
  },
);

export const PrefillDecodingDisaggregationWorkflow = observedWorkflow<PrefillDecodingDisaggregationSpec>(
  'PrefillDecodingDisaggregation',
  async (state) => {
    const spec = state.spec;
    const pairing = await steps.pairPrefillDecode({
      namespace: state.namespace,
      model: spec.modelName,
      zoneLabel: spec.topologyHint.labelKeys.zone,
    });
    const first = pairing.pairs[0];
    return {
      ready: first !== undefined,
      reason: first ? Reason.Paired : Reason.WaitingForPods,
      message: first
        ? `${pairing.pairs.length} prefill/decode pair(s); ${first.prefillPod} -> ${first.decodeTargetPod}${first.zone ? ` in ${first.zone}` : ''}`
        : `waiting for ready pods: ${pairing.prefillPods} prefill, ${pairing.decodePods} decode`,
      fields: first
        ? { prefillPod: first.prefillPod, decodeTargetPod: first.decodeTargetPod, pairs: pairing.pairs }
        : { pairs: [] },
      model: spec.modelName,
    };
  },
);

export const InferenceGatewayWorkflow = observedWorkflow<InferenceGatewaySpec>(
  'InferenceGateway',
  async (state) => {
    const spec = state.spec;
    // Workflows started before gateways were deployed replay without this step.
    const deployed = patched('gateway-deployment')
      ? await steps.deployGateway({ namespace: state.namespace, name: state.name, spec })
      : null;
    const routes = await steps.resolveRoutes({ namespace: state.namespace, spec });
    const ready = routes.filter((r) => r.ready);
    const notReady = routes.filter((r) => !r.ready);
    const gateway = deployed
      ? {
          address: deployed.address,
          adminUrl: deployed.adminUrl,
          ...(deployed.adminSecret ? { adminSecret: deployed.adminSecret } : {}),
          replicas: deployed.replicas,
          readyReplicas: deployed.readyReplicas,
        }
      : {};
    const routesMessage =
      notReady.length === 0
        ? `${routes.length} route(s) ready`
        : notReady.map((r) => `${r.model}: ${r.reason}`).join('; ');
    return {
      ready: notReady.length === 0,
      reason: notReady.length === 0 ? Reason.RoutesReady : Reason.RoutesNotReady,
      message: deployed
        ? `${routesMessage}; gateway at ${deployed.address} (${deployed.readyReplicas}/${deployed.replicas} replicas ready)`
        : routesMessage,
      fields: { routes, readyRoutes: `${ready.length}/${routes.length}`, ...gateway },
    };
  },
  async (state) => {
    // The process runtime's gateway is a local process; on Kubernetes owner references delete the objects.
    // Workflows deleted before this step existed replay without it.
    if (!patched('gateway-teardown')) return;
    const stopped = await steps.deleteGateway({ namespace: state.namespace, name: state.name });
    if (stopped.length > 0) state.message = `stopped ${stopped.join(', ')}`;
  },
);
