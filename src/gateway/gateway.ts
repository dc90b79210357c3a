import { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import { AdminServer, type AdminOptions } from './admin/admin-server.ts';
import { HotPrefixes } from './admin/hot-prefixes.ts';
import type { Embedder } from './embedding/embedder.ts';
import { RemoteEmbedder } from './embedding/remote-embedder.ts';
import { DEFAULT_OUTLIER_POLICY, type OutlierPolicy } from './endpoints/endpoint-state.ts';
import {
  DEFAULT_SCRAPE_OPTIONS,
  EndpointRegistry,
  type ScrapeOptions,
} from './endpoints/endpoint-registry.ts';
import { PromptGuardFilter } from './filters/prompt-guard-filter.ts';
import type { RequestFilter } from './filters/request-filter.ts';
import { SemanticCache } from './filters/semantic-cache.ts';
import { SemanticCacheFilter } from './filters/semantic-cache-filter.ts';
import { InferencePath, type TargetState } from './inference.ts';
import { Proxy } from './proxy/proxy.ts';
import { DEFAULT_UPSTREAM_TIMEOUTS, upstreamAgent, type UpstreamTimeouts } from './proxy/upstream.ts';
import { DEFAULT_JSON_LIMITS, type JsonLimits } from './request-body.ts';
import {
  RouteTable,
  type ModelRoute,
  type RouteSnapshot,
  type RouteTarget,
  type SemanticCacheConfig,
} from './routes/route-table.ts';
import { OwnershipTable } from './scheduling/ownership.ts';
import { PrefixIndex } from './scheduling/prefix-index.ts';
import { PdProfileHandler } from './scheduling/profile-handler.ts';
import type { Scheduler } from './scheduling/framework.ts';
import { buildScheduler, type ScorerWeights } from './scheduling/profiles.ts';
import { GatewayServer } from './server.ts';

export interface GatewayOptions {
  port: number;
  host: string;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /** Largest request header block accepted (431 above). */
  maxHeaderBytes: number;
  /** Deepest nesting and most elements a request body's JSON may hold (400 above). */
  jsonLimits: JsonLimits;
  timeouts: UpstreamTimeouts;
  /** Attempts per request when connections fail before the first byte (each on another endpoint). */
  maxAttempts: number;
  outlier: OutlierPolicy;
  scrape: ScrapeOptions;
  weights?: ScorerWeights;
  /** The built-in embedder for semantic caches without an embeddingEndpoint. */
  localEmbedder?: () => Embedder;
  /** Request header that skips the semantic cache for one request. */
  cacheBypassHeader: string;
  /** The admin API (hot prefixes, ownership shifts) on its own port; off when absent. */
  admin?: AdminOptions;
  log: (message: string) => void;
}

export const DEFAULT_GATEWAY_OPTIONS: GatewayOptions = {
  port: 8080,
  host: '0.0.0.0',
  maxBodyBytes: 4 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  jsonLimits: DEFAULT_JSON_LIMITS,
  timeouts: DEFAULT_UPSTREAM_TIMEOUTS,
  maxAttempts: 3,
  outlier: DEFAULT_OUTLIER_POLICY,
  scrape: DEFAULT_SCRAPE_OPTIONS,
  cacheBypassHeader: 'x-semantic-cache-bypass',
  log: (m) => console.log(`[gateway] ${m}`),
};

/**
 * The OpenAI-compatible data plane. It never talks to Temporal; routes come from a RouteSource. This class owns
 * the state requests share and wires the steps: server.ts (paths) → inference.ts (the request path) →
 * proxy/proxy.ts (retries and relay).
 */
export class Gateway {
  readonly options: GatewayOptions;
  readonly table = new RouteTable();
  readonly metrics = new GatewayMetrics();
  readonly endpoints: EndpointRegistry;
  readonly prefixIndex = new PrefixIndex();
  readonly ownership = new OwnershipTable();
  readonly hotPrefixes = new HotPrefixes();
  /** The admin API's port once listening. */
  adminPort?: number;
  private admin?: AdminServer;
  readonly semanticCache: SemanticCache;
  private readonly agent = upstreamAgent();
  private readonly targets = new WeakMap<RouteTarget, TargetState>();
  /** One scheduler per model, service and routing settings: its scorers' state outlives a route reload. */
  private readonly schedulers = new Map<string, Scheduler>();
  private readonly embedders = new Map<string, Embedder>();
  private readonly server: GatewayServer;

  constructor(options: Partial<GatewayOptions> = {}) {
    this.options = { ...DEFAULT_GATEWAY_OPTIONS, ...options };
    this.endpoints = new EndpointRegistry(this.options.scrape, this.options.log);
    this.semanticCache = new SemanticCache((config) => this.embedderFor(config), this.options.log);
    this.metrics.endpointSource = () => this.endpoints.all();
    const proxy = new Proxy(this.options, {
      agent: this.agent,
      endpoints: this.endpoints,
      metrics: this.metrics,
      hotPrefixes: this.hotPrefixes,
      prefixIndex: this.prefixIndex,
    });
    const inference = new InferencePath(this.options, {
      table: this.table,
      metrics: this.metrics,
      targets: this.targets,
      profiles: new PdProfileHandler(),
      proxy,
    });
    this.server = new GatewayServer(this.options, { table: this.table, metrics: this.metrics, inference });
  }

  /** Installs a complete route table. Requests in flight keep the route they resolved. */
  applyRoutes(snapshot: RouteSnapshot): void {
    const urls = new Set<string>();
    for (const route of snapshot.routes) {
      // Zero from the start, so a dashboard shows 0 rather than no data until the first retry or ejection.
      this.metrics.retries.inc({ model: route.model }, 0);
      this.metrics.prefixBlocks.inc({ model: route.model }, 0);
      this.metrics.prefixMatchedBlocks.inc({ model: route.model }, 0);
      for (const target of route.targets) {
        const endpoints = target.endpoints.map((spec) => this.endpoints.resolve(spec));
        this.targets.set(target, {
          endpoints,
          filters: this.filterChain(target),
          scheduler: this.schedulerFor(route, target),
        });
        for (const e of endpoints) this.metrics.ejections.inc({ endpoint: e.name }, 0);
        for (const e of target.endpoints) urls.add(e.url);
      }
    }
    for (const url of this.endpoints.retain(urls)) {
      this.prefixIndex.forget(url);
      this.ownership.forgetEndpoint(url);
      this.hotPrefixes.forgetEndpoint(url);
    }
    // Start the embedders now: the local model takes about a second to load.
    for (const route of snapshot.routes)
      for (const target of route.targets)
        if (target.filters.semanticCache) {
          try {
            this.semanticCache.prepare(target.filters.semanticCache);
            this.embedderFor(target.filters.semanticCache);
          } catch (err) {
            this.options.log(`semantic cache of model ${route.model} is off: ${(err as Error).message}`);
          }
        }
    this.table.replace(snapshot);
  }

  async listen(): Promise<number> {
    const port = await this.server.listen();
    this.endpoints.start();
    if (this.options.admin) {
      this.admin = new AdminServer(this.options.admin, {
        hotPrefixes: this.hotPrefixes,
        ownership: this.ownership,
        endpoints: () => this.endpoints.all(),
        log: this.options.log,
      });
      this.adminPort = await this.admin.listen();
    }
    return port;
  }

  /** Connections to the endpoints: carrying a request (`active`) and kept alive for the next (`free`). */
  upstreamSockets(): { active: number; free: number } {
    const count = (sockets: NodeJS.ReadOnlyDict<unknown[]>) =>
      Object.values(sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    return { active: count(this.agent.sockets), free: count(this.agent.freeSockets) };
  }

  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes everything. */
  async close(graceMs = 10_000): Promise<void> {
    this.endpoints.stop();
    await this.admin?.close();
    await this.server.close(graceMs);
    this.agent.destroy();
    await this.semanticCache.close();
    for (const embedder of this.embedders.values()) await embedder.close?.();
  }

  /** The route target's scheduler; the scorer weights are read when it is built (a route file may set them). */
  private schedulerFor(route: ModelRoute, target: RouteTarget): Scheduler {
    const key = `${route.model}\n${target.service}\n${JSON.stringify(route.routing)}`;
    let scheduler = this.schedulers.get(key);
    if (!scheduler) {
      scheduler = buildScheduler(
        route.routing,
        { loadBound: route.routing.loadBound, prefixIndex: this.prefixIndex, ownership: this.ownership },
        this.options.weights,
      );
      this.schedulers.set(key, scheduler);
    }
    return scheduler;
  }

  /** The target's request filters, in order: the prompt guard, then the semantic cache. */
  private filterChain(target: RouteTarget): RequestFilter[] {
    const { promptGuard, semanticCache } = target.filters;
    const chain: RequestFilter[] = [];
    if (promptGuard) chain.push(new PromptGuardFilter(promptGuard, this.metrics, this.options.log));
    if (semanticCache)
      chain.push(
        new SemanticCacheFilter(
          semanticCache,
          this.semanticCache,
          this.metrics,
          this.options.cacheBypassHeader,
        ),
      );
    return chain;
  }

  private embedderFor(config: SemanticCacheConfig): Embedder {
    const key = config.embeddingEndpoint
      ? `${config.embeddingEndpoint}\n${config.embeddingModel ?? ''}`
      : 'local';
    let embedder = this.embedders.get(key);
    if (!embedder) {
      if (config.embeddingEndpoint)
        embedder = new RemoteEmbedder(config.embeddingEndpoint, config.embeddingModel);
      else if (this.options.localEmbedder) embedder = this.options.localEmbedder();
      else
        throw new Error('the semantic cache has no embeddingEndpoint and the gateway has no local embedder');
      this.embedders.set(key, embedder);
    }
    return embedder;
  }
}
