/**
 * Watches the five kinds and turns every change into a signal to the resource's workflow. Informers restart
 * with backoff after errors; a per-key queue keeps one change per resource in flight; a periodic resync
 * re-delivers what changed since its last delivery or whose workflow is no longer running (resync.ts).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { FINALIZER, KINDS, keyOf, parseSpec, refOf, servedModel, type ResourceRef } from '../api/index.ts';
import { KubeApiError, paths, type KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/objects.ts';
import { watchCollection, type WatchedCollection } from '../kube/informer.ts';
import { dependencyChangedSignal, deletedSignal, specSignal } from '../workflows/messages.ts';
import {
  InferenceCacheWorkflow,
  InferenceGatewayWorkflow,
  InferenceServiceWorkflow,
  PrefillDecodingDisaggregationWorkflow,
  SpeculativeDecodingWorkflow,
} from '../workflows/index.ts';
import { ControllerMetrics } from '../metrics/controller-metrics.ts';
import { resourceWorkflowStart, workflowIdFor } from '../temporal/start.ts';
import { DependencyIndex, type Resource } from './dependency-index.ts';
import { reportInvalidSpec } from './invalid-spec.ts';
import { fingerprintOf, resyncVerdict, type Delivery } from './resync.ts';
import type { CheckResult } from '../health/checks.ts';

/** The workflow of each kind; the client names the workflow type after the function. */
const WORKFLOWS: Record<string, typeof InferenceServiceWorkflow> = {
  InferenceService: InferenceServiceWorkflow,
  InferenceCache: InferenceCacheWorkflow,
  SpeculativeDecoding: SpeculativeDecodingWorkflow,
  PrefillDecodingDisaggregation: PrefillDecodingDisaggregationWorkflow,
  InferenceGateway: InferenceGatewayWorkflow,
};

export interface ControllerOptions {
  kube: KubeClient;
  temporal: Client;
  taskQueue: string;
  resyncMs?: number;
  /** Watch only this namespace (INFCTL_WATCH_NAMESPACE); every namespace when absent. */
  namespace?: string;
  /** Per-resource poll interval passed to new workflows (tests shorten it). */
  pollIntervalMs?: number;
  log?: (message: string) => void;
  /** Where the controller counts what it does (served on /metrics by `infctl controller`). */
  metrics?: ControllerMetrics;
}

export class Controller {
  private readonly informers = new Map<string, WatchedCollection>();
  private readonly pending = new Map<string, Resource>();
  private readonly inFlight = new Set<string>();
  private readonly index = new DependencyIndex();
  /** What was last delivered per key: status-only updates (our own writes) and unchanged resyncs signal nothing. */
  private readonly delivered = new Map<string, Delivery>();
  private resync?: NodeJS.Timeout;
  private resyncing = false;
  private stopped = false;
  private readonly log: (message: string) => void;
  /** When each key's pending change arrived, for the spec-to-signal latency. */
  private readonly arrived = new Map<string, number>();
  readonly metrics: ControllerMetrics;

  constructor(private readonly options: ControllerOptions) {
    this.log = options.log ?? ((m) => console.log(`[controller] ${m}`));
    this.metrics = options.metrics ?? new ControllerMetrics();
    this.metrics.queueSource = () => ({ pending: this.pending.size, inFlight: this.inFlight.size });
  }

  async start(): Promise<void> {
    for (const info of KINDS) {
      const path = this.options.namespace
        ? paths.custom(info.plural, this.options.namespace)
        : paths.customAll(info.plural);
      const informer = await watchCollection(this.options.kube, path, info.kind, {
        onChange: (obj) => this.enqueue(obj as Resource, false),
        onDelete: (obj) => {
          this.metrics.events.inc({ kind: info.kind, type: 'delete' });
          this.index.forget(obj as Resource);
          this.delivered.delete(keyOf(refOf(obj as Resource)));
        },
        log: this.log,
        stopped: () => this.stopped,
        onRestart: () => this.metrics.informerRestarts.inc({ kind: info.kind }),
      });
      // Zero from the start, so a dashboard shows 0 rather than no data until the first restart.
      this.metrics.informerRestarts.inc({ kind: info.kind }, 0);
      this.metrics.giveUps.inc({ kind: info.kind }, 0);
      this.metrics.invalidSpecs.inc({ kind: info.kind }, 0);
      // Signals are rare once resyncs compare before they signal: a series that appeared with its first
      // observation would never show it in a rate.
      this.metrics.signalLatency.zero({ kind: info.kind });
      this.informers.set(info.kind, informer);
    }
    const resyncMs = this.options.resyncMs ?? 60_000;
    this.resync = setInterval(() => void this.resyncAll(), resyncMs);
    this.metrics.lastResync.setToCurrentTime();
    this.log(`watching ${KINDS.map((k) => k.kind).join(', ')}`);
  }

  /** Ready once every kind has been listed and is watched; not while a watch restarts (the reason why). */
  informersSynced(): CheckResult {
    if (this.informers.size < KINDS.length)
      return { ok: false, detail: `starting: ${this.informers.size} of ${KINDS.length} kinds listed` };
    const lagging = [...this.informers.values()].map((i) => i.syncState()).filter((s) => !s.synced);
    return lagging.length > 0
      ? { ok: false, detail: lagging.map((s) => s.detail).join('; ') }
      : { ok: true, detail: `${KINDS.length} kinds listed and watched` };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync) clearInterval(this.resync);
    for (const informer of this.informers.values()) await informer.stop();
    while (this.inFlight.size > 0) await new Promise((r) => setTimeout(r, 50));
  }

  /** Compares every object with its last delivery; re-delivers the changed ones and those whose workflow is gone. */
  private async resyncAll(): Promise<void> {
    if (this.resyncing || this.stopped) return;
    this.resyncing = true;
    try {
      const running = await this.runningWorkflows();
      for (const informer of this.informers.values())
        for (const item of informer.list()) {
          const obj = item as Resource;
          const ref = refOf(obj);
          const key = keyOf(ref);
          const verdict = resyncVerdict(
            obj,
            this.delivered.get(key),
            workflowIdFor(ref.kind, ref.namespace, ref.name),
            running,
          );
          this.metrics.resyncs.inc({ kind: obj.kind, verdict });
          if (verdict === 'unchanged') continue;
          // Delivered again from scratch: a lost workflow is started anew by the spec's signalWithStart.
          this.delivered.delete(key);
          this.enqueue(obj, true);
        }
      this.metrics.lastResync.setToCurrentTime();
    } finally {
      this.resyncing = false;
    }
  }

  /** IDs of the running workflows on our task queue (one visibility query), or undefined when it fails. */
  private async runningWorkflows(): Promise<Set<string> | undefined> {
    const ids = new Set<string>();
    try {
      const query = `ExecutionStatus = "Running" AND TaskQueue = "${this.options.taskQueue}"`;
      for await (const w of this.options.temporal.workflow.list({ query, pageSize: 1000 }))
        ids.add(w.workflowId);
      return ids;
    } catch (err) {
      this.log(`resync: could not list running workflows, none taken for lost: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * Queues the object's latest version under its key and, unless a delivery of that key is in flight, delivers
   * until none is pending: one change per resource at a time, each retried with backoff before giving up.
   */
  private enqueue(obj: Resource, resync: boolean): void {
    const key = keyOf(refOf(obj));
    this.metrics.events.inc({ kind: obj.kind, type: resync ? 'resync' : 'change' });
    if (!this.arrived.has(key)) this.arrived.set(key, performance.now());
    this.pending.set(key, obj);
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    void (async () => {
      try {
        for (let next = this.pending.get(key); next && !this.stopped; next = this.pending.get(key)) {
          this.pending.delete(key);
          const arrived = this.arrived.get(key) ?? performance.now();
          this.arrived.delete(key);
          for (let attempt = 1; ; attempt++) {
            try {
              await this.process(next, arrived);
              break;
            } catch (err) {
              if (attempt >= 5 || this.stopped) {
                if (!this.stopped) this.metrics.giveUps.inc({ kind: next.kind });
                this.log(`${key}: giving up until the next change or resync: ${(err as Error).message}`);
                break;
              }
              await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
            }
          }
        }
      } finally {
        this.inFlight.delete(key);
      }
    })();
  }

  private async process(obj: Resource, arrived: number): Promise<void> {
    const { kind } = obj;
    const namespace = obj.metadata.namespace ?? 'default';
    const name = obj.metadata.name;
    const workflow = WORKFLOWS[kind];
    if (!workflow) return;
    const start = resourceWorkflowStart({
      kind,
      namespace,
      name,
      taskQueue: this.options.taskQueue,
      model: servedModel(kind, obj.spec),
      pollIntervalMs: this.options.pollIntervalMs,
    });

    if (obj.metadata.deletionTimestamp) {
      if (!obj.metadata.finalizers?.includes(FINALIZER)) return;
      await this.counted(kind, 'deleted', () =>
        this.options.temporal.workflow.signalWithStart(workflow, {
          ...start,
          signal: deletedSignal,
          signalArgs: [],
        }),
      );
      this.index.forget(obj);
      this.delivered.set(keyOf(refOf(obj)), { fingerprint: fingerprintOf(obj), signalled: true });
      return;
    }
    const generation = obj.metadata.generation ?? 1;
    const key = keyOf(refOf(obj));
    if (this.delivered.get(key)?.fingerprint !== fingerprintOf(obj)) {
      // Parsed once, here: the workflow gets the typed spec with its defaults, or no work starts at all.
      const parsed = parseSpec(kind, obj.spec);
      if (!parsed.ok) {
        await reportInvalidSpec(this.options.kube, obj, parsed.problems);
        this.metrics.invalidSpecs.inc({ kind });
        this.log(`${key}: generation ${generation} is InvalidSpec: ${parsed.problems.join('; ')}`);
        this.delivered.set(key, { fingerprint: fingerprintOf(obj), signalled: false });
        return;
      }
      if (!obj.metadata.finalizers?.includes(FINALIZER)) await this.addFinalizer(obj);
      await this.counted(kind, 'spec', () =>
        this.options.temporal.workflow.signalWithStart(workflow, {
          ...start,
          signal: specSignal,
          signalArgs: [{ spec: parsed.spec, generation }],
        }),
      );
      this.metrics.signalLatency.observe({ kind }, (performance.now() - arrived) / 1000);
      this.delivered.set(key, { fingerprint: fingerprintOf(obj), signalled: true });
    } else if (!obj.metadata.finalizers?.includes(FINALIZER)) await this.addFinalizer(obj);
    for (const dependent of this.index.update(obj)) await this.notify(dependent, obj);
  }

  private async notify(dependent: ResourceRef, cause: Resource): Promise<void> {
    try {
      await this.counted(dependent.kind, 'dependencyChanged', () =>
        this.options.temporal.workflow
          .getHandle(workflowIdFor(dependent.kind, dependent.namespace, dependent.name))
          .signal(dependencyChangedSignal, { kind: cause.kind, name: cause.metadata.name }),
      );
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  /** Sends one signal, counted by kind, signal and outcome. */
  private async counted<T>(kind: string, signal: string, send: () => Promise<T>): Promise<T> {
    try {
      const result = await send();
      this.metrics.signals.inc({ kind, signal, outcome: 'ok' });
      return result;
    } catch (err) {
      this.metrics.signals.inc({ kind, signal, outcome: 'error' });
      throw err;
    }
  }

  private async addFinalizer(obj: Resource): Promise<void> {
    const path = paths.custom(
      KINDS.find((k) => k.kind === obj.kind)?.plural ?? '',
      obj.metadata.namespace ?? 'default',
      obj.metadata.name,
    );
    const patch = obj.metadata.finalizers
      ? [{ op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }]
      : [{ op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }];
    try {
      await this.options.kube.jsonPatch<KubeObject>(path, [
        { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
        ...patch,
      ]);
    } catch (err) {
      // Another controller (or the user) changed it first: the next event carries the new version.
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 422 || err.status === 404))
        return;
      throw err;
    }
  }
}
