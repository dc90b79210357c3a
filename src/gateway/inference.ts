import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import type { EndpointState } from './endpoints/endpoint-state.ts';
import { GatewayError } from './errors.ts';
import { replayAnswer } from './filters/answers.ts';
import type { FilterResponse, RequestFilter } from './filters/request-filter.ts';
import type { Proxy } from './proxy/proxy.ts';
import type { RequestContext } from './request-context.ts';
import { readInferenceRequest, type InferenceKind, type JsonLimits } from './request-body.ts';
import type { ModelRoute, RouteTable, RouteTarget } from './routes/route-table.ts';
import type { Scheduler } from './scheduling/framework.ts';
import type { OwnershipTable } from './scheduling/ownership.ts';
import { promptKeys } from './scheduling/prefix-blocks.ts';
import type { PrefixIndex } from './scheduling/prefix-index.ts';
import type { ProfileHandler } from './scheduling/profile-handler.ts';
import { buildScheduler, type ScorerWeights } from './scheduling/profiles.ts';

/** What the gateway keeps per route target: its endpoints and its request-filter chain. */
export interface TargetState {
  endpoints: EndpointState[];
  filters: RequestFilter[];
}

export interface InferenceOptions {
  maxBodyBytes: number;
  jsonLimits: JsonLimits;
  /** Read on every new scheduler: a route file may set them after the gateway starts. */
  weights?: ScorerWeights;
}

export interface InferenceDeps {
  table: RouteTable;
  metrics: GatewayMetrics;
  prefixIndex: PrefixIndex;
  ownership: OwnershipTable;
  /** Installed with the routes (Gateway.applyRoutes). */
  targets: WeakMap<RouteTarget, TargetState>;
  profiles: ProfileHandler;
  proxy: Proxy;
}

/**
 * The inference request path: parse (bounded) → route → the target's filters → the profiles the profile
 * handler picks → proxy.
 */
export class InferencePath {
  private readonly schedulers = new Map<string, Scheduler>();

  constructor(
    private readonly options: InferenceOptions,
    private readonly deps: InferenceDeps,
  ) {}

  async serve(req: IncomingMessage, res: ServerResponse, kind: InferenceKind, path: string): Promise<void> {
    const started = performance.now();
    const { request, raw } = await readInferenceRequest(req, kind, {
      maxBodyBytes: this.options.maxBodyBytes,
      json: this.options.jsonLimits,
    });
    const { model, user } = request.body;
    const keys = promptKeys(request);
    const resolved = this.deps.table.resolve(model, { headers: req.headers, user }, keys.blocks);
    if (!resolved) {
      this.deps.metrics.requests.inc({ model: 'unknown', endpoint: 'none', status: 404 });
      throw new GatewayError(
        404,
        'model_not_found',
        `The model "${model}" has no route on this gateway. GET /v1/models lists the models it serves.`,
        'model',
      );
    }
    const { route, target, sessionKey } = resolved;
    const { endpoints, filters } = this.deps.targets.get(target) ?? { endpoints: [], filters: [] };
    const ctx: RequestContext = {
      req,
      res,
      path,
      request,
      model,
      route,
      target,
      endpoints,
      scheduler: this.schedulerFor(route, target),
      filters,
      keys,
      sessionKey,
      forward:
        target.backendModel && target.backendModel !== model
          ? Buffer.from(JSON.stringify({ ...request.body, model: target.backendModel }))
          : raw,
      responseHeaders: {},
      started,
    };
    for (const filter of filters) {
      const response = await filter.before(ctx);
      if (response) return this.respond(ctx, response);
    }
    await this.deps.proxy.send(ctx, this.deps.profiles.pick(kind, endpoints));
  }

  /** A filter answered in the endpoints' stead. */
  private respond(ctx: RequestContext, response: FilterResponse): void {
    if ('error' in response) throw response.error;
    const stream = ctx.request.body.stream === true;
    replayAnswer(ctx.res, response.answer, ctx.model, stream, response.headers);
    const labels = { model: ctx.model, endpoint: response.servedBy };
    this.deps.metrics.requests.inc({ ...labels, status: 200 });
    this.deps.metrics.latency.observe(labels, (performance.now() - ctx.started) / 1000);
  }

  private schedulerFor(route: ModelRoute, target: RouteTarget): Scheduler {
    const key = `${route.model}\n${target.service}\n${JSON.stringify(route.routing)}`;
    let scheduler = this.schedulers.get(key);
    if (!scheduler) {
      scheduler = buildScheduler(
        route.routing,
        {
          loadBound: route.routing.loadBound,
          prefixIndex: this.deps.prefixIndex,
          ownership: this.deps.ownership,
        },
        this.options.weights,
      );
      this.schedulers.set(key, scheduler);
    }
    return scheduler;
  }
}
