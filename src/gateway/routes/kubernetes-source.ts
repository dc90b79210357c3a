import type { KubernetesObject } from '@kubernetes/client-node';
import {
  InferenceGatewaySpecSchema,
  InferenceServiceSpecSchema,
  type InferenceGatewaySpec,
  type InferenceServiceSpec,
  type InferenceServiceStatus,
} from '../../api/index.ts';
import { paths, type KubeClient } from '../../kube/client.ts';
import { watchCollection, type WatchedCollection } from '../../kube/informer.ts';
import { filtersFrom } from './filters-config.ts';
import type { EndpointSpec, ModelRoute, RouteSnapshot, RouteSource, RouteTarget } from './route-table.ts';

interface Watched extends KubernetesObject {
  spec?: unknown;
  status?: unknown;
}

export interface KubernetesSourceOptions {
  /** `namespace/name` of the InferenceGateway to serve; every gateway's routes when absent. */
  gateway?: string;
  /** Watch only this namespace. */
  namespace?: string;
  /** Hosts beyond in-cluster Services and loopback a service's semantic cache may reach (INFCTL_ENDPOINT_ALLOW). */
  allowedHosts?: readonly string[];
}

/**
 * Routes from the cluster: the selected InferenceGateway's routes, each resolved to its InferenceServices
 * (spec for the filters, status.endpoints for the replicas). Any change rebuilds the whole table.
 */
export class KubernetesRouteSource implements RouteSource {
  readonly description: string;
  private readonly informers: WatchedCollection[] = [];
  private stopped = false;
  private debounce?: NodeJS.Timeout;
  private onUpdate: (snapshot: RouteSnapshot) => void = () => {};

  constructor(
    private readonly kube: KubeClient,
    private readonly options: KubernetesSourceOptions = {},
    private readonly log: (message: string) => void = () => {},
  ) {
    this.description = `Kubernetes ${options.gateway ? `InferenceGateway ${options.gateway}` : 'InferenceGateways'}${options.namespace ? ` in ${options.namespace}` : ''}`;
  }

  async start(onUpdate: (snapshot: RouteSnapshot) => void): Promise<void> {
    this.onUpdate = onUpdate;
    const changed = () => {
      // Events arrive while the second collection is still listing; the first full build follows below.
      if (this.informers.length < 2) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.rebuild(), 20);
    };
    for (const plural of ['inferencegateways', 'inferenceservices']) {
      const path = this.options.namespace
        ? paths.custom(plural, this.options.namespace)
        : paths.customAll(plural);
      this.informers.push(
        await watchCollection(this.kube, path, plural, {
          onChange: changed,
          onDelete: changed,
          log: this.log,
          stopped: () => this.stopped,
        }),
      );
    }
    this.rebuild();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    for (const informer of this.informers) await informer.stop();
  }

  private rebuild(): void {
    const [gateways, services] = this.informers.map((i) => i.list() as Watched[]) as [Watched[], Watched[]];
    const byKey = new Map<string, Watched>();
    for (const svc of services) byKey.set(`${svc.metadata?.namespace}/${svc.metadata?.name}`, svc);
    const routes = new Map<string, ModelRoute>();
    for (const gw of gateways) {
      const key = `${gw.metadata?.namespace}/${gw.metadata?.name}`;
      if (this.options.gateway && this.options.gateway !== key) continue;
      const parsed = InferenceGatewaySpecSchema.safeParse(gw.spec);
      if (!parsed.success) {
        this.log(`InferenceGateway ${key} has an invalid spec; its routes are skipped`);
        continue;
      }
      const spec: InferenceGatewaySpec = parsed.data;
      const namespace = gw.metadata?.namespace ?? 'default';
      for (const route of spec.routes) {
        if (routes.has(route.model)) {
          this.log(`model ${route.model} is routed by more than one gateway; ${key} is ignored for it`);
          continue;
        }
        const refs = [
          { inferenceServiceRef: route.inferenceServiceRef, weight: route.weight },
          ...route.split,
        ];
        const targets = refs.map((ref) => this.target(namespace, ref.inferenceServiceRef, ref.weight, byKey));
        routes.set(route.model, {
          model: route.model,
          targets,
          routing: {
            schedulingPolicy: spec.schedulingPolicy,
            routeStrategy: spec.routeStrategy,
            sessionAffinity: spec.sessionAffinity,
            sessionHeader: spec.sessionHeader,
            loadBound: spec.loadBound,
          },
        });
      }
    }
    this.onUpdate({ routes: [...routes.values()] });
  }

  private target(
    namespace: string,
    name: string,
    weight: number,
    services: Map<string, Watched>,
  ): RouteTarget {
    const svc = services.get(`${namespace}/${name}`);
    const parsed = svc ? InferenceServiceSpecSchema.safeParse(svc.spec) : undefined;
    if (!svc || !parsed?.success)
      return { service: `${namespace}/${name}`, weight, endpoints: [], filters: {} };
    const spec: InferenceServiceSpec = parsed.data;
    const status = (svc.status ?? {}) as InferenceServiceStatus;
    const endpoints: EndpointSpec[] = (status.endpoints ?? []).map((e) => ({
      name: e.name,
      url: e.url.replace(/\/+$/, ''),
      role: e.role ?? 'both',
      ready: e.ready ?? false,
      zone: e.zone,
    }));
    return {
      service: `${namespace}/${name}`,
      weight,
      backendModel: spec.modelName,
      endpoints,
      filters: filtersFrom(spec.nlpFilters, namespace, this.options.allowedHosts ?? []),
    };
  }
}
