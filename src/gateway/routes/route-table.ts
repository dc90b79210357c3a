import type { BlockedPattern, ROUTE_STRATEGIES, SCHEDULING_POLICIES, ServingRole } from '../../api/index.ts';

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

  models(): ModelRoute[] {
    return [...this.routes.values()];
  }

  onChange(listener: (routes: ReadonlyMap<string, ModelRoute>) => void): void {
    this.listeners.push(listener);
  }
}
