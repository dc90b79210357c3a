import { Reason, LABELS, type ServingPlan } from '../../api/index.ts';
import type {
  AppliedReplicas,
  ReplicaEndpoint,
  ReplicaObservation,
  ReplicaRuntime,
  RolloutHooks,
  RolloutOutcome,
} from '../replica-runtime.ts';
import { observationOf } from '../replica-runtime.ts';
import { paths, type KubeClient } from '../../kube/client.ts';
import type { DeploymentObject, NodeObject, PodObject } from '../../kube/objects.ts';
import { deploymentFor, serviceFor } from './manifests.ts';
import type { PodCache } from './pod-cache.ts';

/** Records a Kubernetes Event on the plan's InferenceService; the activities own Events (events.ts). */
export type RecordServiceEvent = (
  plan: ServingPlan,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
) => Promise<void>;

interface KubernetesRuntimeOptions {
  /** Between two reads of a rollout's Deployments. */
  pollMs?: number;
  /** The node label that names a replica's zone. */
  zoneLabel?: string;
  /** The worker's cache of the services' pods; without it every observation LISTs them. */
  pods?: PodCache;
}

/** How long a new pod may stay unschedulable before the rollout is declared failed. */
const UNSCHEDULABLE_GRACE_MS = 15_000;
/**
 * The first poll of a rollout's wait; each next one waits twice as long, up to the poll interval. A rollout
 * on a cluster with room is ready within a second or two, and at one poll a second up to half of a service's
 * apply→Ready at N=10 was the wait for the next poll (issue 16).
 */
const FIRST_POLL_MS = 200;
/**
 * How long a node's zone is remembered: every observation read the node of every pod again (a GET per pod per
 * poll; issue 16), and a node's zone label does not change while pods run on it.
 */
const ZONE_TTL_MS = 5 * 60_000;

const isReady = (p: PodObject) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Replicas as the pods of one Deployment per group, behind one Service, all owned by the InferenceService. */
export class KubernetesRuntime implements ReplicaRuntime {
  private readonly pollMs: number;
  private readonly zoneLabel: string;
  private readonly pods?: PodCache;
  private readonly zones = new Map<string, { zone: string; at: number }>();

  constructor(
    private readonly kube: KubeClient,
    private readonly recordEvent: RecordServiceEvent,
    options: KubernetesRuntimeOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 1000;
    this.zoneLabel = options.zoneLabel ?? 'topology.kubernetes.io/zone';
    this.pods = options.pods;
  }

  /** Server-side applies the plan's Deployments and Service, and deletes groups the plan no longer has. */
  async apply(plan: ServingPlan, revision: number): Promise<AppliedReplicas> {
    const kube = this.kube;
    const applied: string[] = [];
    for (const group of plan.groups) {
      await kube.apply(paths.deployment(plan.namespace, group.name), deploymentFor(plan, group, revision));
      applied.push(`Deployment/${group.name}`);
    }
    await kube.apply(paths.service(plan.namespace, plan.backend), serviceFor(plan));
    applied.push(`Service/${plan.backend}`);
    const existing = await kube.list(
      paths.deployments(plan.namespace),
      `${LABELS.service}=${plan.owner.name}`,
    );
    const deleted: string[] = [];
    for (const d of existing) {
      if (!plan.groups.some((g) => g.name === d.metadata.name)) {
        await kube.delete(paths.deployment(plan.namespace, d.metadata.name));
        deleted.push(`Deployment/${d.metadata.name}`);
      }
    }
    await this.recordEvent(
      plan,
      'Normal',
      'Applied',
      `revision ${revision}: applied ${applied.join(', ')}${deleted.length ? `; deleted ${deleted.join(', ')}` : ''}`,
    );
    return { applied, deleted };
  }

  /**
   * Waits until every Deployment of the plan runs the revision with all replicas available. Heartbeats each
   * poll and honours cancellation (through the hooks); fails early when the revision's pods cannot be scheduled.
   */
  async awaitReady(
    plan: ServingPlan,
    revision: number,
    timeoutMs: number,
    hooks: RolloutHooks,
  ): Promise<RolloutOutcome> {
    const started = Date.now();
    let unschedulableSince: number | undefined;
    let delay = Math.min(FIRST_POLL_MS, this.pollMs);
    for (;;) {
      const pending = await this.pendingGroups(plan, revision);
      if (pending.length === 0) {
        await this.recordEvent(plan, 'Normal', Reason.RolloutComplete, `revision ${revision} is available`);
        return { ok: true, message: `revision ${revision} is available` };
      }
      // The quick first polls only look at the Deployments; the scheduler has not spoken yet anyway.
      const unschedulable =
        Date.now() - started >= this.pollMs ? await this.unschedulablePod(plan, revision) : undefined;
      if (unschedulable) {
        unschedulableSince ??= Date.now();
        if (Date.now() - unschedulableSince > UNSCHEDULABLE_GRACE_MS)
          return this.failed(plan, `revision ${revision} cannot be scheduled: ${unschedulable}`);
      } else unschedulableSince = undefined;
      if (Date.now() - started > timeoutMs)
        return this.failed(
          plan,
          `revision ${revision} did not become available within ${Math.round(timeoutMs / 1000)}s: ${pending.join('; ')}`,
        );
      hooks.heartbeat({ pending });
      await hooks.sleep(delay);
      delay = Math.min(delay * 2, this.pollMs);
    }
  }

  private async failed(plan: ServingPlan, message: string): Promise<RolloutOutcome> {
    await this.recordEvent(plan, 'Warning', Reason.RolloutFailed, message);
    return { ok: false, message };
  }

  /** The groups whose Deployment does not yet run the revision with every replica available. */
  private async pendingGroups(plan: ServingPlan, revision: number): Promise<string[]> {
    const pending: string[] = [];
    for (const group of plan.groups) {
      const d = await this.kube.find<DeploymentObject>(paths.deployment(plan.namespace, group.name));
      const s = d?.status;
      const want = group.replicas;
      const done =
        d !== undefined &&
        (s?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        d.metadata.annotations?.['production-stack.vllm.ai/revision'] === String(revision) &&
        (s?.updatedReplicas ?? 0) === want &&
        (s?.availableReplicas ?? 0) === want &&
        (s?.replicas ?? 0) === want;
      if (!done)
        pending.push(
          `${group.name}: ${s?.availableReplicas ?? 0}/${want} available, ${s?.updatedReplicas ?? 0} updated`,
        );
    }
    return pending;
  }

  /** "pod <name>: <scheduler message>" for the first pod of the revision the scheduler cannot place. */
  private async unschedulablePod(plan: ServingPlan, revision: number): Promise<string | undefined> {
    const pods = await this.kube.list<PodObject>(
      paths.pods(plan.namespace),
      `${LABELS.service}=${plan.owner.name},${LABELS.revision}=${revision}`,
    );
    for (const p of pods) {
      const c = p.status?.conditions?.find(
        (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
      );
      if (c) return `pod ${p.metadata.name}: ${c.message ?? 'Unschedulable'}`;
    }
    return undefined;
  }

  /**
   * The pods behind a plan: from the worker's cache when it shows every replica ready (the steady state); else
   * from a LIST, so an observation right after a rollout, or of a service losing replicas, is never behind.
   */
  private async podsOf(plan: ServingPlan): Promise<PodObject[]> {
    const cached = this.pods?.podsOf(plan.namespace, plan.owner.name);
    const want = plan.groups.reduce((n, g) => n + g.replicas, 0);
    if (cached && cached.length === want && cached.every(isReady)) return cached;
    return this.kube.list<PodObject>(paths.pods(plan.namespace), `${LABELS.service}=${plan.owner.name}`);
  }

  /** The replicas behind a plan, read from its pods, each with the zone of its node. */
  async observe(plan: ServingPlan): Promise<ReplicaObservation> {
    const pods = await this.podsOf(plan);
    const endpoints: ReplicaEndpoint[] = [];
    for (const p of [...pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const ready = isReady(p);
      let zone: string | undefined;
      const nodeName = p.spec.nodeName;
      if (nodeName) zone = (await this.zoneOf(nodeName)) || undefined;
      endpoints.push({
        name: p.metadata.name,
        url: p.status?.podIP ? `http://${p.status.podIP}:${plan.port}` : '',
        role: (p.metadata.labels?.[LABELS.role] as ReplicaEndpoint['role']) ?? 'both',
        ready,
        ...(zone ? { zone } : {}),
      });
    }
    return observationOf(plan, endpoints);
  }

  /** The zone label of a node ('' for none), read once per {@link ZONE_TTL_MS}. */
  private async zoneOf(nodeName: string): Promise<string> {
    const known = this.zones.get(nodeName);
    if (known && Date.now() - known.at < ZONE_TTL_MS) return known.zone;
    const node = await this.kube.find<NodeObject>(`/api/v1/nodes/${nodeName}`);
    const zone = node?.metadata.labels?.[this.zoneLabel] ?? '';
    // A node not found is asked again next time: it may be joining.
    if (node) this.zones.set(nodeName, { zone, at: Date.now() });
    return zone;
  }

  /** Deletes the Deployments and Services an InferenceService owns. */
  async deleteOwned(namespace: string, name: string): Promise<string[]> {
    const deleted: string[] = [];
    for (const d of await this.kube.list(paths.deployments(namespace), `${LABELS.service}=${name}`)) {
      if (await this.kube.delete(paths.deployment(namespace, d.metadata.name)))
        deleted.push(`Deployment/${d.metadata.name}`);
    }
    for (const s of await this.kube.list(paths.services(namespace), `${LABELS.service}=${name}`)) {
      if (await this.kube.delete(paths.service(namespace, s.metadata.name)))
        deleted.push(`Service/${s.metadata.name}`);
    }
    return deleted;
  }
}
