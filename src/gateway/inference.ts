import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import type { EndpointState } from './endpoints/endpoint-state.ts';
import { GatewayError } from './errors.ts';
import { replayAnswer } from './filters/answers.ts';
import type { FilterResponse, RequestFilter } from './filters/request-filter.ts';
import type { Proxy } from './proxy/proxy.ts';
import type { RequestContext } from './request-context.ts';
import { readInferenceRequest, type InferenceKind, type JsonLimits } from './request-body.ts';
import type { RouteTable, RouteTarget } from './routes/route-table.ts';
import { Scheduler } from './scheduling/framework.ts';
import { RoundRobinPicker } from './scheduling/pickers.ts';
import { promptKeys } from './scheduling/prefix-blocks.ts';
import type { ProfileHandler } from './scheduling/profile-handler.ts';

/** A target whose routes are not installed yet has no endpoints: scheduling answers 503. */
const NO_TARGET: TargetState = {
  endpoints: [],
  filters: [],
  scheduler: new Scheduler({ filters: [], scorers: [], picker: new RoundRobinPicker() }),
};

/** What the gateway keeps per route target: its endpoints, its request-filter chain and its scheduler. */
export interface TargetState {
  endpoints: EndpointState[];
  filters: RequestFilter[];
  scheduler: Scheduler;
}

export interface InferenceOptions {
  maxBodyBytes: number;
  jsonLimits: JsonLimits;
}

export interface InferenceDeps {
  table: RouteTable;
  metrics: GatewayMetrics;
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
    const { endpoints, filters, scheduler } = this.deps.targets.get(target) ?? NO_TARGET;
    const ctx: RequestContext = {
      req,
      res,
      path,
      request,
      model,
      route,
      target,
      endpoints,
      scheduler,
      filters,
      keys,
      scheduling: {
        model,
        blocks: keys.blocks,
        contextBlocks: keys.contextBlocks,
        ...(keys.prefixKey !== undefined ? { prefixKey: keys.prefixKey } : {}),
        ...(sessionKey !== undefined ? { sessionKey } : {}),
      },
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
}
