import type { IncomingHttpHeaders } from 'node:http';
import type { BlockedPattern, ROUTE_STRATEGIES, SCHEDULING_POLICIES, ServingRole } from '../../api/index.ts';
import { GatewayError } from '../errors.ts';
import { hashString } from '../scheduling/prefix-blocks.ts';

/** One replica a route may send requests to, as a source reports it. */
export interface EndpointSpec {
  /** Stable name (pod or process name); consistent hashing uses it, so every gateway replica agrees. */
  name: string;
  /** Base URL without a trailing slash, for example http://10.0.0.7:8000. */
  url: string;
  role: ServingRole;
  ready: boolean;
  zone?: string;
}

export interface SemanticCacheConfig {
  /** redis:// URL. */
  redisUrl: string;
  threshold: number;
  ttlSeconds: number;
  embeddingEndpoint?: string;
  embeddingModel?: string;
  /** `user`: answers are kept per tenant; `shared`: one cache for every caller of the route. */
  scope: 'user' | 'shared';
  /** Lower-case request header naming the tenant; the OpenAI `user` field otherwise. */
  tenantHeader?: string;
}

export interface ModelFilters {
  promptGuard?: BlockedPattern[];
  semanticCache?: SemanticCacheConfig;
}

/** One service behind a route, with its share of the route's traffic. */
export interface RouteTarget {
  /** `namespace/name` of the InferenceService, or the static config's service name. */
  service: string;
  weight: number;
  endpoints: EndpointSpec[];
  filters: ModelFilters;
  /** The model name the backend serves, when it differs from the route's. */
  backendModel?: string;
}

export interface RoutingSettings {
  schedulingPolicy: (typeof SCHEDULING_POLICIES)[number];
  routeStrategy: (typeof ROUTE_STRATEGIES)[number];
  sessionAffinity: boolean;
  sessionHeader: string;
  loadBound: number;
}

export interface ModelRoute {
  model: string;
  targets: RouteTarget[];
  routing: RoutingSettings;
}

export const DEFAULT_ROUTING: RoutingSettings = {
  schedulingPolicy: 'gpu-load-aware',
  routeStrategy: 'PrefixHash',
  sessionAffinity: false,
  sessionHeader: 'x-session-id',
  loadBound: 1.25,
};

/** What a route source produces: the whole table at once. */
export interface RouteSnapshot {
  routes: ModelRoute[];
}

/** A source of routes: a static YAML file or Kubernetes. It calls `onUpdate` with every complete table. */
export interface RouteSource {
  readonly description: string;
  start(onUpdate: (snapshot: RouteSnapshot) => void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The routes in effect. An update swaps the whole map; a request keeps the route it resolved, so a reload
 * never drops or changes a request in flight.
 */
export class RouteTable {
  private routes = new Map<string, ModelRoute>();
  private listeners: ((routes: ReadonlyMap<string, ModelRoute>) => void)[] = [];
  generation = 0;

  replace(snapshot: RouteSnapshot): void {
    const next = new Map<string, ModelRoute>();
    for (const route of snapshot.routes) next.set(route.model, route);
    this.routes = next;
    this.generation++;
    for (const listener of this.listeners) listener(next);
  }

  lookup(model: string): ModelRoute | undefined {
    return this.routes.get(model);
  }

  /**
   * Where a request goes: its model's route, its session key (the route's session header, else the OpenAI
   * `user`), and one of the route's services by weight; keyed requests (session, else the first prefix block)
   * always pick the same one. Undefined when the model has no route.
   */
  resolve(
    model: string,
    caller: { headers: IncomingHttpHeaders; user?: unknown },
    blocks: readonly number[],
  ): { route: ModelRoute; target: RouteTarget; sessionKey?: string } | undefined {
    const route = this.routes.get(model);
    if (!route) return undefined;
    const header = caller.headers[route.routing.sessionHeader.toLowerCase()];
    const sessionKey =
      (Array.isArray(header) ? header[0] : header) ??
      (typeof caller.user === 'string' ? caller.user : undefined);
    const targets = route.targets.filter((t) => t.weight > 0);
    const [only] = targets;
    if (!only)
      throw new GatewayError(
        503,
        'no_healthy_upstream',
        `The model "${model}" has no service with a positive weight.`,
      );
    if (targets.length === 1) return { route, target: only, sessionKey };
    const total = targets.reduce((sum, t) => sum + t.weight, 0);
    const key =
      sessionKey !== undefined ? hashString(sessionKey) : (blocks[0] ?? Math.floor(Math.random() * 2 ** 32));
    let point = key % total;
    for (const target of targets) {
      if (point < target.weight) return { route, target, sessionKey };
      point -= target.weight;
    }
    return { route, target: targets[targets.length - 1] as RouteTarget, sessionKey };
  }

  models(): ModelRoute[] {
    return [...this.routes.values()];
  }

  onChange(listener: (routes: ReadonlyMap<string, ModelRoute>) => void): void {
    this.listeners.push(listener);
  }
}
