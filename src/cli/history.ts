import type { WorkflowHandle } from '@temporalio/client';
import proto, { type temporal } from '@temporalio/proto';

// The package is CommonJS: its namespaces come through the default export.
const EventType = proto.temporal.api.enums.v1.EventType;

function decode(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown[] {
  return (payloads?.payloads ?? []).map((p) => {
    try {
      return JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString());
    } catch {
      return undefined;
    }
  });
}

/** The key inputs of a step, short enough for one line. */
function summarize(step: string, input: unknown): string {
  const i = (input ?? {}) as Record<string, unknown>;
  const plan = i.plan as { groups?: { name: string; args: string[] }[]; digest?: string } | undefined;
  switch (step) {
    case 'applyDeployment':
    case 'awaitRollout':
      return `revision ${String(i.revision)}: ${(plan?.groups ?? []).map((g) => g.name).join(', ')}`;
    case 'observeEndpoints':
      return `plan ${plan?.digest ?? '?'}`;
    case 'resolveServiceInputs': {
      const spec = (i.spec ?? {}) as { modelName?: string; inferenceCacheRef?: string };
      return `model ${spec.modelName}${spec.inferenceCacheRef ? `, cache ${spec.inferenceCacheRef}` : ''}`;
    }
    case 'resolveRoutes':
      return ((i.spec as { routes?: { model: string; inferenceServiceRef: string }[] })?.routes ?? [])
        .map((r) => `${r.model} -> ${r.inferenceServiceRef}`)
        .join(', ');
    case 'renderVllmArgs':
      return `model ${String((i.spec as { modelName?: string })?.modelName)}${i.cache ? ', cache' : ''}${i.pdd ? ', PDD' : ''}${i.sd ? ', SD' : ''}`;
    case 'writeStatus': {
      const conditions =
        (i.conditions as { type: string; status: string; reason: string }[] | undefined) ?? [];
      const phase = (i.fields as { phase?: string } | undefined)?.phase;
      return (
        [phase ? `phase ${phase}` : '', ...conditions.map((c) => `${c.type}=${c.status} (${c.reason})`)]
          .filter(Boolean)
          .join(', ') || 'fields'
      );
    }
    default: {
      const text = JSON.stringify(input) ?? '';
      return text.length > 100 ? `${text.slice(0, 97)}...` : text;
    }
  }
}

function outcomeOf(result: unknown): string {
  if (result === undefined || result === null) return 'ok';
  const r = result as {
    ok?: boolean;
    message?: string;
    args?: string[];
    groups?: { args: string[] }[];
    problems?: string[];
    applied?: string[];
  };
  if (typeof r.ok === 'boolean') return `${r.ok ? 'ok' : 'FAILED'}: ${r.message}`;
  if (r.problems) return r.problems.length ? `problems: ${r.problems.join('; ')}` : 'ok';
  if (r.groups) return `args: ${r.groups.map((g) => g.args.join(' ')).join(' | ')}`;
  if (r.applied) return `applied ${r.applied.join(', ')}`;
  if (Array.isArray(result)) {
    const routes = result as { model?: string; ready?: boolean }[];
    if (routes.every((x) => typeof x.model === 'string'))
      return routes.map((x) => `${x.model} ${x.ready ? 'ready' : 'not ready'}`).join(', ');
    return `${result.length} item(s)`;
  }
  const tick = result as { samples?: { ok?: boolean }[] };
  if (Array.isArray(tick.samples))
    return `${tick.samples.filter((x) => x.ok).length}/${tick.samples.length} replica(s) read`;
  const obs = result as { readyReplicas?: number; replicas?: number; pairs?: unknown[] };
  if (typeof obs.readyReplicas === 'number') return `${obs.readyReplicas}/${obs.replicas} ready`;
  if (Array.isArray(obs.pairs)) return `${obs.pairs.length} pair(s)`;
  return 'ok';
}

/** The workflow's steps as a readable timeline: time, step, outcome, key inputs. */
export async function renderHistory(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const lines: string[] = [`history of ${handle.workflowId}`];
  const scheduled = new Map<string, { step: string; input: unknown; at: Date }>();
  const time = (e: temporal.api.history.v1.IHistoryEvent) => {
    const seconds = Number(e.eventTime?.seconds ?? 0);
    return new Date(seconds * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6));
  };
  const stamp = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 23);
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        lines.push(`${stamp(time(e))}  started`);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
        const a = e.workflowExecutionSignaledEventAttributes;
        const [input] = decode(a?.input);
        const detail =
          a?.signalName === 'spec'
            ? `generation ${(input as { generation?: number })?.generation}`
            : input === undefined
              ? ''
              : JSON.stringify(input);
        lines.push(`${stamp(time(e))}  signal ${a?.signalName}${detail ? ` (${detail})` : ''}`);
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: {
        const a = e.workflowExecutionUpdateAcceptedEventAttributes;
        lines.push(`${stamp(time(e))}  update ${a?.acceptedRequest?.input?.name} accepted`);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const a = e.activityTaskScheduledEventAttributes;
        scheduled.set(id, { step: a?.activityType?.name ?? '?', input: decode(a?.input)[0], at: time(e) });
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const a =
          e.activityTaskCompletedEventAttributes ??
          e.activityTaskFailedEventAttributes ??
          e.activityTaskTimedOutEventAttributes;
        const s = scheduled.get(String(a?.scheduledEventId));
        if (!s) break;
        const took = time(e).getTime() - s.at.getTime();
        const outcome =
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            ? outcomeOf(decode(e.activityTaskCompletedEventAttributes?.result)[0])
            : `FAILED: ${e.activityTaskFailedEventAttributes?.failure?.message ?? 'timed out'}`;
        lines.push(`${stamp(s.at)}  ${s.step.padEnd(22)} ${String(took).padStart(6)} ms  ${outcome}`);
        lines.push(`${' '.repeat(25)}${summarize(s.step, s.input)}`);
        break;
      }
      case EventType.EVENT_TYPE_MARKER_RECORDED: {
        // A local activity (a tick's reads): its type, times and result are in the marker; its input is not.
        const a = e.markerRecordedEventAttributes;
        if (a?.markerName !== 'core_local_activity') break;
        const [data] = decode(a.details?.data) as ({ activity_type?: string } & Record<string, unknown>)[];
        const at = (t: unknown) => {
          const { seconds = 0, nanos = 0 } = (t ?? {}) as { seconds?: number; nanos?: number };
          return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
        };
        const started = at(data?.original_schedule_time ?? data?.complete_time);
        const took = Math.max(0, at(data?.complete_time).getTime() - started.getTime());
        const [result] = decode(a.details?.result);
        const outcome = a.failure ? `FAILED: ${a.failure.message}` : outcomeOf(result);
        const step = `${data?.activity_type ?? '?'} (local)`;
        lines.push(`${stamp(started)}  ${step.padEnd(22)} ${String(took).padStart(6)} ms  ${outcome}`);
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        lines.push(`${stamp(time(e))}  continued as new (history kept bounded)`);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        lines.push(`${stamp(time(e))}  completed`);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        lines.push(
          `${stamp(time(e))}  FAILED: ${e.workflowExecutionFailedEventAttributes?.failure?.message}`,
        );
        break;
      default:
        break;
    }
  }
  return `${lines.join('\n')}\n`;
}
