import type { GatewayMetrics } from '../../metrics/gateway-metrics.ts';
import type { RequestContext } from '../request-context.ts';
import type { SemanticCacheConfig } from '../routes/route-table.ts';
import { chatPromptText, completionPromptText } from '../scheduling/prefix-blocks.ts';
import type { FilterResponse, RequestFilter } from './request-filter.ts';
import type { CachedAnswer, CacheScope, SemanticCache } from './semantic-cache.ts';

/** A lookup that missed: where the endpoint's answer is stored once it arrives. */
interface PendingStore {
  scope: CacheScope;
  vector: Float32Array;
}

/**
 * The semantic cache as a request filter: `before` answers a hit (or marks the request a miss, to be stored),
 * `after` stores the endpoint's answer. Embeddings and multi-answer requests pass through.
 */
export class SemanticCacheFilter implements RequestFilter {
  readonly name = 'semantic-cache';
  private readonly pending = new WeakMap<RequestContext, PendingStore>();

  constructor(
    private readonly config: SemanticCacheConfig,
    private readonly cache: SemanticCache,
    private readonly metrics: GatewayMetrics,
    /** Request header that skips the semantic cache for one request. */
    private readonly bypassHeader: string,
  ) {}

  async before(ctx: RequestContext): Promise<FilterResponse | undefined> {
    const scope = cacheScope(ctx, this.config);
    if (!scope) return undefined;
    if (ctx.req.headers[this.bypassHeader] !== undefined) {
      this.metrics.semanticCache.inc({ model: ctx.model, result: 'bypass' });
      ctx.responseHeaders['x-cache'] = 'bypass';
      return undefined;
    }
    const found = await this.cache.lookup(this.config, scope);
    this.metrics.semanticCache.inc({ model: ctx.model, result: found.result });
    if (found.result === 'hit')
      return { answer: found.answer, headers: { 'x-cache': 'hit' }, servedBy: 'semantic-cache' };
    ctx.responseHeaders['x-cache'] = 'miss';
    if (found.result === 'miss') {
      this.pending.set(ctx, { scope, vector: found.vector });
      ctx.answerKind = scope.kind;
    }
    return undefined;
  }

  after(ctx: RequestContext, answer: CachedAnswer): void {
    const pending = this.pending.get(ctx);
    if (pending) void this.cache.store(this.config, pending.scope, pending.vector, answer);
  }
}

/**
 * What a cached answer is scoped to, or undefined for a request the cache does not serve. Chat: the last
 * message is compared by meaning, the messages before it must match exactly. The model, the service, the
 * tenant (scope `user`) and every parameter that may change the answer must match too.
 */
function cacheScope(ctx: RequestContext, config: SemanticCacheConfig): CacheScope | undefined {
  const { request, model } = ctx;
  if (request.kind === 'embedding') return undefined;
  const { body } = request;
  if (!(body.n === undefined || body.n === 1)) return undefined;
  if (!(body.prompt === undefined || typeof body.prompt === 'string')) return undefined;
  const header = config.tenantHeader ? ctx.req.headers[config.tenantHeader] : undefined;
  const fromHeader = Array.isArray(header) ? header[0] : header;
  const tenant =
    config.scope === 'shared'
      ? undefined
      : fromHeader !== undefined
        ? `tenant:${fromHeader}`
        : typeof body.user === 'string'
          ? `user:${body.user}`
          : 'anonymous';
  const scope = { model, route: ctx.target.service, tenant, params: cacheParams(body) };
  if (request.kind === 'completion')
    return { ...scope, kind: 'completion', context: '', question: completionPromptText(request.body.prompt) };
  const { messages } = request.body;
  return {
    ...scope,
    kind: 'chat',
    context: chatPromptText(messages.slice(0, -1)),
    question: chatPromptText(messages.slice(-1)),
  };
}

/** Body fields that do not change an answer, or are part of the scope already. */
const NOT_CACHE_PARAMS = new Set(['model', 'messages', 'prompt', 'stream', 'stream_options', 'user']);

/** Every other field of the request, as canonical JSON (keys sorted): any difference is another scope. */
function cacheParams(body: Record<string, unknown>): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort())
      out[key] = canonical((value as Record<string, unknown>)[key]);
    return out;
  };
  const params: Record<string, unknown> = {};
  for (const key of Object.keys(body).sort())
    if (!NOT_CACHE_PARAMS.has(key) && body[key] !== undefined && body[key] !== null)
      params[key] = canonical(body[key]);
  return JSON.stringify(params);
}
