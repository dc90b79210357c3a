import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { z } from 'zod';
import { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import type { Embedder } from './embedding/embedder.ts';
import { RemoteEmbedder } from './embedding/remote-embedder.ts';
import {
  DEFAULT_OUTLIER_POLICY,
  type EndpointState,
  type OutlierPolicy,
} from './endpoints/endpoint-state.ts';
import {
  DEFAULT_SCRAPE_OPTIONS,
  EndpointRegistry,
  type ScrapeOptions,
} from './endpoints/endpoint-registry.ts';
import { GatewayError, sendError } from './errors.ts';
import { answerFromJson, replayAnswer, StreamedAnswer } from './filters/answers.ts';
import { findBlocked } from './filters/prompt-guard.ts';
import { requestTexts } from './filters/request-texts.ts';
import { SemanticCache, type CacheScope } from './filters/semantic-cache.ts';
import {
  callUpstream,
  ConnectionFailure,
  DEFAULT_UPSTREAM_TIMEOUTS,
  forwardableHeaders,
  isLocalError,
  readAll,
  responseHeaders,
  upstreamAgent,
  type UpstreamTimeouts,
} from './proxy/upstream.ts';
import { engineError, MAX_ENGINE_ERROR_BYTES } from './proxy/engine-errors.ts';
import {
  ChatRequestSchema,
  CompletionRequestSchema,
  DEFAULT_JSON_LIMITS,
  EmbeddingRequestSchema,
  parseBody,
  readBody,
  type JsonLimits,
} from './request-body.ts';
import {
  RouteTable,
  type EndpointRole,
  type ModelRoute,
  type RouteSnapshot,
  type RouteTarget,
  type SemanticCacheConfig,
} from './routes/route-table.ts';
import { NoCandidateError, type Scheduler, type SchedulingRequest } from './scheduling/framework.ts';
import {
  affinityKey,
  BLOCK_CHARS,
  chatPromptText,
  completionPromptText,
  DEFAULT_PREFIX_KEY_BLOCKS,
  hashString,
  prefixBlockHashes,
} from './scheduling/prefix-blocks.ts';
import { PrefixIndex } from './scheduling/prefix-index.ts';
import { OwnershipTable } from './scheduling/ownership.ts';
import { AdminServer, type AdminOptions } from './admin/admin-server.ts';
import { HotPrefixes } from './admin/hot-prefixes.ts';
import type { WarmPrompt } from '../api/index.ts';
import { buildScheduler, type ScorerWeights } from './scheduling/profiles.ts';

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

/** Blocks hashed per request: 1,024 blocks of 64 characters (64 KiB of prompt) are plenty for affinity. */
const MAX_PREFIX_BLOCKS = 1024;
/** Largest answer body the gateway buffers to store in the semantic cache or read from a prefill. */
const MAX_CAPTURE_BYTES = 4 * 1024 * 1024;

type InferenceKind = 'chat' | 'completion' | 'embedding';

interface Prepared {
  kind: InferenceKind;
  model: string;
  route: ModelRoute;
  target: RouteTarget;
  /** The prompt as a chat template lays it out (empty for embeddings): hashed for routing. */
  text: string;
  blocks: number[];
  contextBlocks: number;
  /** The affinity key of the prompt's stable prefix (routing, ownership, hot prefixes). */
  prefixKey?: number;
  sessionKey?: string;
  stream: boolean;
  body: Record<string, unknown>;
  /** Bytes to send upstream: the client's own unless the gateway had to change the body. */
  forward: Buffer;
  headers: Record<string, string>;
  responseHeaders: Record<string, string>;
  cache?: { config: SemanticCacheConfig; scope: CacheScope; vector: Float32Array };
  started: number;
}

/** The OpenAI-compatible data plane. It never talks to Temporal; routes come from a RouteSource. */
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
  private readonly schedulers = new Map<string, Scheduler>();
  private readonly targetEndpoints = new WeakMap<RouteTarget, EndpointState[]>();
  private readonly embedders = new Map<string, Embedder>();
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(options: Partial<GatewayOptions> = {}) {
    this.options = { ...DEFAULT_GATEWAY_OPTIONS, ...options };
    this.endpoints = new EndpointRegistry(this.options.scrape, this.options.log);
    this.semanticCache = new SemanticCache((config) => this.embedderFor(config), this.options.log);
    this.metrics.endpointSource = () => this.endpoints.all();
  }

  /** Installs a complete route table. Requests in flight keep the route they resolved. */
  applyRoutes(snapshot: RouteSnapshot): void {
    const urls = new Set<string>();
    for (const route of snapshot.routes)
      for (const target of route.targets) {
        this.targetEndpoints.set(
          target,
          target.endpoints.map((spec) => this.endpoints.resolve(spec)),
        );
        for (const e of target.endpoints) urls.add(e.url);
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
    const server = createServer({ maxHeaderSize: this.options.maxHeaderBytes }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.options.log(`internal error on ${req.method} ${req.url}: ${err.stack ?? err.message}`);
        sendError(res, new GatewayError(500, 'internal_error', 'The gateway failed to handle the request.'));
      });
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return;
      const error =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new GatewayError(
              400,
              'request_too_large',
              `Request headers exceed ${this.options.maxHeaderBytes} bytes.`,
            )
          : new GatewayError(400, 'invalid_request', `Malformed HTTP request: ${err.message}`);
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      const body = error.body();
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    // accept() failing (EMFILE: out of descriptors) is the gateway's own trouble; it must not end the process.
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.server === server) this.options.log(`server error: ${err.code ?? ''} ${err.message}`);
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
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
    return (server.address() as AddressInfo).port;
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
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    }
    this.agent.destroy();
    await this.semanticCache.close();
    for (const embedder of this.embedders.values()) await embedder.close?.();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    const method = req.method ?? 'GET';
    const routes: Record<string, { method: string; run: () => Promise<void> | void }> = {
      '/health': { method: 'GET', run: () => this.health(res) },
      '/metrics': { method: 'GET', run: () => this.serveMetrics(res) },
      '/v1/models': { method: 'GET', run: () => this.listModels(res) },
      '/v1/chat/completions': { method: 'POST', run: () => this.inference(req, res, 'chat', path) },
      '/v1/completions': { method: 'POST', run: () => this.inference(req, res, 'completion', path) },
      '/v1/embeddings': { method: 'POST', run: () => this.inference(req, res, 'embedding', path) },
    };
    const route = routes[path];
    if (!route) {
      sendError(
        res,
        new GatewayError(
          404,
          'not_found',
          `No such path: ${path}. The gateway serves ${Object.keys(routes).join(', ')}.`,
        ),
      );
      return;
    }
    if (method !== route.method) {
      res.setHeader('allow', route.method);
      sendError(
        res,
        new GatewayError(405, 'method_not_allowed', `${path} accepts ${route.method}, not ${method}.`),
      );
      return;
    }
    try {
      await route.run();
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      sendError(res, err);
    }
  }

  private health(res: ServerResponse): void {
    const body = JSON.stringify({ status: 'ok', models: this.table.models().length });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  private async serveMetrics(res: ServerResponse): Promise<void> {
    const text = await this.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
    res.end(text);
  }

  private listModels(res: ServerResponse): void {
    const data = this.table.models().map((route) => ({
      id: route.model,
      object: 'model',
      created: 0,
      owned_by: 'inference-controller',
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data }));
  }

  private async inference(
    req: IncomingMessage,
    res: ServerResponse,
    kind: InferenceKind,
    path: string,
  ): Promise<void> {
    const started = performance.now();
    const raw = await readBody(req, this.options.maxBodyBytes, "the gateway's --max-body-bytes");
    const prepared = await this.prepare(req, raw, kind, started);
    if (!prepared) return;
    const { target } = prepared;
    const filters = target.filters;
    if (filters.promptGuard) {
      const detector = findBlocked(filters.promptGuard, this.guardText(prepared));
      if (detector) {
        this.metrics.promptGuardBlocks.inc({ model: prepared.model, detector });
        this.metrics.requests.inc({ model: prepared.model, endpoint: 'none', status: 400 });
        // The log names the detector only: the matched text must never reach a log.
        this.options.log(
          `blocked a ${kind} request for model ${prepared.model}: prompt guard detector ${detector}`,
        );
        throw new GatewayError(
          400,
          'prompt_blocked',
          `The prompt was blocked by the prompt guard of model "${prepared.model}": it matched the ${detector} detector.`,
          kind === 'chat' ? 'messages' : kind === 'embedding' ? 'input' : 'prompt',
        );
      }
    }
    if (kind !== 'embedding' && filters.semanticCache && this.cacheable(prepared.body)) {
      const config = filters.semanticCache;
      if (req.headers[this.options.cacheBypassHeader] !== undefined) {
        this.metrics.semanticCache.inc({ model: prepared.model, result: 'bypass' });
        prepared.responseHeaders['x-cache'] = 'bypass';
      } else {
        const scope = this.cacheScope(prepared, req, config);
        const found = await this.semanticCache.lookup(config, scope);
        this.metrics.semanticCache.inc({ model: prepared.model, result: found.result });
        if (found.result === 'hit') {
          replayAnswer(res, found.answer, prepared.model, prepared.stream, { 'x-cache': 'hit' });
          this.metrics.requests.inc({ model: prepared.model, endpoint: 'semantic-cache', status: 200 });
          this.metrics.latency.observe(
            { model: prepared.model, endpoint: 'semantic-cache' },
            (performance.now() - started) / 1000,
          );
          return;
        }
        prepared.responseHeaders['x-cache'] = 'miss';
        if (found.result === 'miss') prepared.cache = { config, scope, vector: found.vector };
      }
    }
    const endpoints = this.targetEndpoints.get(target) ?? [];
    let role: EndpointRole = 'both';
    if (
      kind !== 'embedding' &&
      endpoints.some((e) => e.role === 'prefill') &&
      endpoints.some((e) => e.role === 'decode')
    ) {
      role = 'decode';
      await this.prefill(req, res, prepared, endpoints, path);
      if (res.destroyed) return;
    }
    await this.proxy(req, res, prepared, endpoints, role, path);
  }

  private async prepare(
    req: IncomingMessage,
    raw: Buffer,
    kind: InferenceKind,
    started: number,
  ): Promise<Prepared | undefined> {
    const schema: z.ZodType<Record<string, unknown> & { model: string }> =
      kind === 'chat'
        ? ChatRequestSchema
        : kind === 'completion'
          ? CompletionRequestSchema
          : EmbeddingRequestSchema;
    const body = parseBody(schema, raw, this.options.jsonLimits);
    const route = this.table.lookup(body.model);
    if (!route) {
      this.metrics.requests.inc({ model: 'unknown', endpoint: 'none', status: 404 });
      throw new GatewayError(
        404,
        'model_not_found',
        `The model "${body.model}" has no route on this gateway. GET /v1/models lists the models it serves.`,
        'model',
      );
    }
    const text =
      kind === 'chat'
        ? chatPromptText(body.messages as { role?: unknown; content?: unknown }[])
        : kind === 'completion'
          ? completionPromptText(body.prompt)
          : '';
    const blocks = prefixBlockHashes(text, MAX_PREFIX_BLOCKS);
    const messages = kind === 'chat' ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
    const contextBlocks =
      messages.length > 1 ? Math.floor(chatPromptText(messages.slice(0, -1)).length / BLOCK_CHARS) : 0;
    if (blocks.length === 0 && text.length > 0) blocks.push(hashString(text));
    const headerValue = req.headers[route.routing.sessionHeader.toLowerCase()];
    const sessionKey =
      (Array.isArray(headerValue) ? headerValue[0] : headerValue) ??
      (typeof body.user === 'string' ? body.user : undefined);
    const target = this.pickTarget(route, sessionKey, blocks);
    let forward = raw;
    if (target.backendModel && target.backendModel !== body.model)
      forward = Buffer.from(JSON.stringify({ ...body, model: target.backendModel }));
    return {
      kind,
      model: body.model,
      route,
      target,
      text,
      blocks,
      contextBlocks,
      prefixKey: affinityKey(blocks, contextBlocks),
      sessionKey,
      stream: body.stream === true,
      body,
      forward,
      headers: forwardableHeaders(req.headers),
      responseHeaders: {},
      started,
    };
  }

  /** A weighted choice among the route's services; keyed requests (session, prefix) always pick the same one. */
  private pickTarget(route: ModelRoute, sessionKey: string | undefined, blocks: number[]): RouteTarget {
    const targets = route.targets.filter((t) => t.weight > 0);
    if (targets.length === 0) {
      throw new GatewayError(
        503,
        'no_healthy_upstream',
        `The model "${route.model}" has no service with a positive weight.`,
      );
    }
    const [only] = targets;
    if (targets.length === 1 && only) return only;
    const total = targets.reduce((sum, t) => sum + t.weight, 0);
    const key =
      sessionKey !== undefined
        ? hashString(sessionKey)
        : blocks.length > 0
          ? (blocks[0] ?? 0)
          : Math.floor(Math.random() * 2 ** 32);
    let point = key % total;
    for (const target of targets) {
      if (point < target.weight) return target;
      point -= target.weight;
    }
    return targets[targets.length - 1] as RouteTarget;
  }

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

  /** Every text the request carries to the model (filters/request-texts.ts). */
  private guardText(prepared: Prepared): string[] {
    return requestTexts(prepared.kind, prepared.body);
  }

  private cacheable(body: Record<string, unknown>): boolean {
    return (
      (body.n === undefined || body.n === 1) && (body.prompt === undefined || typeof body.prompt === 'string')
    );
  }

  /**
   * Chat: the last message is compared by meaning, the messages before it must match exactly. The model, the
   * service, the tenant (scope `user`) and every parameter that may change the answer must match too.
   */
  private cacheScope(prepared: Prepared, req: IncomingMessage, config: SemanticCacheConfig): CacheScope {
    const { model, body } = prepared;
    const kind = prepared.kind as 'chat' | 'completion';
    const header = config.tenantHeader ? req.headers[config.tenantHeader] : undefined;
    const fromHeader = Array.isArray(header) ? header[0] : header;
    const tenant =
      config.scope === 'shared'
        ? undefined
        : fromHeader !== undefined
          ? `tenant:${fromHeader}`
          : typeof body.user === 'string'
            ? `user:${body.user}`
            : 'anonymous';
    const scope = { model, route: prepared.target.service, tenant, params: cacheParams(body) };
    if (kind === 'completion')
      return { ...scope, kind, context: '', question: completionPromptText(body.prompt) };
    const messages = body.messages as { role?: unknown; content?: unknown }[];
    const last = messages[messages.length - 1] ?? {};
    return {
      ...scope,
      kind,
      context: chatPromptText(messages.slice(0, -1)),
      question: chatPromptText([last]),
    };
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

  private schedulingRequest(
    prepared: Prepared,
    role: EndpointRole,
    exclude: Set<EndpointState>,
  ): SchedulingRequest {
    return {
      model: prepared.model,
      blocks: prepared.blocks,
      contextBlocks: prepared.contextBlocks,
      prefixKey: prepared.prefixKey,
      sessionKey: prepared.sessionKey,
      role,
      exclude,
      now: Date.now(),
    };
  }

  /** Counts the request's prefix as served by `endpoint` in its role (the admin API's hot prefixes). */
  private recordHot(prepared: Prepared, role: EndpointRole, endpoint: EndpointState): void {
    if (prepared.prefixKey === undefined) return;
    this.hotPrefixes.record(prepared.model, role, prepared.prefixKey, endpoint.url, Date.now(), () =>
      warmPrompt(prepared),
    );
  }

  private recordFailure(endpoint: EndpointState): void {
    if (endpoint.recordFailure(Date.now(), this.options.outlier)) {
      this.metrics.ejections.inc({ endpoint: endpoint.name });
      this.options.log(
        `ejected endpoint ${endpoint.name} (${endpoint.url}) after ${endpoint.consecutiveFailures} failures in a row, until ${new Date(endpoint.ejectedUntil).toISOString()}`,
      );
    }
  }

  /**
   * P/D step one: the prefill endpoint computes the prompt's KV cache (one token, not streamed) and returns
   * where the decode endpoint can fetch it. If it fails, the decode endpoint serves the whole request.
   */
  private async prefill(
    req: IncomingMessage,
    res: ServerResponse,
    prepared: Prepared,
    endpoints: EndpointState[],
    path: string,
  ): Promise<void> {
    const body: Record<string, unknown> = {
      ...prepared.body,
      model: prepared.target.backendModel ?? prepared.model,
      stream: false,
      max_tokens: 1,
      kv_transfer_params: {
        do_remote_decode: true,
        do_remote_prefill: false,
        remote_engine_id: null,
        remote_block_ids: null,
        remote_host: null,
        remote_port: null,
      },
    };
    delete body.stream_options;
    if ('max_completion_tokens' in body) body.max_completion_tokens = 1;
    const scheduler = this.schedulerFor(prepared.route, prepared.target);
    let endpoint: EndpointState;
    try {
      endpoint = scheduler.schedule(
        this.schedulingRequest(prepared, 'prefill', new Set()),
        endpoints,
      ).endpoint;
    } catch (err) {
      if (!(err instanceof NoCandidateError)) throw err;
      this.metrics.prefillDecode.inc({ model: prepared.model, outcome: 'prefill_failed' });
      return;
    }
    endpoint.inFlight++;
    const call = callUpstream(
      endpoint.url,
      path,
      'POST',
      prepared.headers,
      Buffer.from(JSON.stringify(body)),
      this.options.timeouts,
      this.agent,
      () => this.endpoints.liveness(endpoint),
    );
    const onClose = () => call.request.destroy();
    res.once('close', onClose);
    try {
      const upstream = await call.response;
      const text = await readAll(upstream, MAX_CAPTURE_BYTES);
      if (upstream.statusCode !== 200) throw new Error(`status ${upstream.statusCode}`);
      const params = (JSON.parse(text.toString('utf8')) as { kv_transfer_params?: unknown })
        .kv_transfer_params;
      if (typeof params !== 'object' || params === null)
        throw new Error('the response carries no kv_transfer_params');
      endpoint.recordSuccess();
      prepared.forward = Buffer.from(
        JSON.stringify({
          ...prepared.body,
          model: prepared.target.backendModel ?? prepared.model,
          kv_transfer_params: params,
        }),
      );
      prepared.responseHeaders['x-prefill-endpoint'] = endpoint.name;
      this.recordHot(prepared, 'prefill', endpoint);
      this.metrics.prefillDecode.inc({ model: prepared.model, outcome: 'ok' });
    } catch (err) {
      // Whatever failed, the prefill connection must not linger (a half-read answer holds a socket).
      call.request.destroy();
      if (res.destroyed) return;
      if (err instanceof ConnectionFailure && !err.local && !err.stale) this.recordFailure(endpoint);
      this.options.log(
        `prefill on ${endpoint.name} failed (${(err as Error).message}); the decode endpoint serves the whole request`,
      );
      this.metrics.prefillDecode.inc({ model: prepared.model, outcome: 'prefill_failed' });
    } finally {
      endpoint.inFlight--;
      res.off('close', onClose);
    }
  }

  private async proxy(
    req: IncomingMessage,
    res: ServerResponse,
    prepared: Prepared,
    endpoints: EndpointState[],
    role: EndpointRole,
    path: string,
  ): Promise<void> {
    const scheduler = this.schedulerFor(prepared.route, prepared.target);
    const tried = new Set<EndpointState>();
    const model = prepared.model;
    let lastError: ConnectionFailure | undefined;
    /** Kept-alive connections found closed: retried on a new connection without counting as an attempt. */
    let staleRetries = 0;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      let endpoint: EndpointState;
      try {
        const decision = scheduler.schedule(this.schedulingRequest(prepared, role, tried), endpoints);
        endpoint = decision.endpoint;
        this.metrics.decisions.inc({ model, scorer: decision.decidedBy });
      } catch (err) {
        if (!(err instanceof NoCandidateError)) throw err;
        this.metrics.requests.inc({ model, endpoint: 'none', status: lastError ? 502 : 503 });
        if (lastError)
          throw new GatewayError(
            lastError.timedOut ? 504 : 502,
            lastError.timedOut ? 'upstream_timeout' : 'upstream_unavailable',
            `Every endpoint tried for model "${model}" failed before answering; last error: ${lastError.message}`,
          );
        throw new GatewayError(503, 'no_healthy_upstream', `${err.message}.`);
      }
      if (attempt > 1) this.metrics.retries.inc({ model });
      tried.add(endpoint);
      endpoint.inFlight++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        endpoint.inFlight--;
      };
      const call = callUpstream(
        endpoint.url,
        path,
        'POST',
        prepared.headers,
        prepared.forward,
        this.options.timeouts,
        this.agent,
        () => this.endpoints.liveness(endpoint),
      );
      const onClose = () => {
        if (!res.writableFinished) call.request.destroy();
        release();
      };
      res.once('close', onClose);
      let upstream: IncomingMessage;
      try {
        upstream = await call.response;
      } catch (err) {
        res.off('close', onClose);
        release();
        if (res.destroyed) return;
        lastError = err as ConnectionFailure;
        if (lastError.local) {
          // Out of descriptors or buffers here: no endpoint is to blame, and another would fail alike.
          this.metrics.requests.inc({ model, endpoint: 'none', status: 503 });
          this.options.log(`request for model ${model} failed on the gateway itself: ${lastError.message}`);
          throw new GatewayError(
            503,
            'gateway_overloaded',
            `The gateway is out of local resources (${lastError.message}); retry shortly.`,
          );
        }
        if (lastError.stale && staleRetries < 2) {
          staleRetries++;
          tried.delete(endpoint);
          attempt--;
          continue;
        }
        this.recordFailure(endpoint);
        this.options.log(
          `attempt ${attempt} for model ${model} on ${endpoint.name} failed before the first byte: ${lastError.message}`,
        );
        continue;
      }
      try {
        this.recordHot(prepared, role, endpoint);
        this.relay(res, upstream, prepared, endpoint, release);
      } catch (err) {
        // Once the response arrived, every way out reads it or drops it: an unread one holds its socket.
        upstream.destroy();
        call.request.destroy();
        release();
        throw err;
      }
      return;
    }
    this.metrics.requests.inc({ model, endpoint: 'none', status: 502 });
    throw new GatewayError(
      lastError?.timedOut ? 504 : 502,
      lastError?.timedOut ? 'upstream_timeout' : 'upstream_unavailable',
      `${this.options.maxAttempts} attempts for model "${model}" failed before the first byte; last error: ${lastError?.message}`,
    );
  }

  /** Streams the endpoint's answer to the client chunk by chunk (pipe applies backpressure). */
  private relay(
    res: ServerResponse,
    upstream: IncomingMessage,
    prepared: Prepared,
    endpoint: EndpointState,
    release: () => void,
  ): void {
    const status = upstream.statusCode ?? 502;
    const labels = { model: prepared.model, endpoint: endpoint.name };
    if (status >= 400) {
      void this.relayError(res, upstream, prepared, endpoint, release);
      return;
    }
    const capture =
      prepared.cache && status === 200
        ? (upstream.headers['content-type'] ?? '').includes('text/event-stream')
          ? new StreamedAnswer(prepared.kind as 'chat' | 'completion')
          : ([] as Buffer[])
        : undefined;
    let captured = 0;
    let first = true;
    upstream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        this.metrics.ttft.observe(labels, (performance.now() - prepared.started) / 1000);
      }
      if (capture instanceof StreamedAnswer) capture.push(chunk);
      else if (capture && captured < MAX_CAPTURE_BYTES) {
        capture.push(chunk);
        captured += chunk.length;
      }
    });
    upstream.on('end', () => {
      release();
      if (status >= 500) this.recordFailure(endpoint);
      else endpoint.recordSuccess();
      this.metrics.requests.inc({ ...labels, status });
      this.metrics.latency.observe(labels, (performance.now() - prepared.started) / 1000);
      if (!prepared.cache || !capture) return;
      const answer =
        capture instanceof StreamedAnswer
          ? capture.answer()
          : captured < MAX_CAPTURE_BYTES
            ? answerFromJson(prepared.kind as 'chat' | 'completion', Buffer.concat(capture))
            : undefined;
      if (answer)
        void this.semanticCache.store(
          prepared.cache.config,
          prepared.cache.scope,
          prepared.cache.vector,
          answer,
        );
    });
    upstream.on('error', (err) => {
      release();
      // A client that went away aborts the upstream response on purpose: not the endpoint's failure.
      if (res.destroyed) return;
      if (!isLocalError(err)) this.recordFailure(endpoint);
      this.options.log(`response from ${endpoint.name} broke off: ${err.message}`);
      res.destroy(err);
    });
    res.writeHead(status, {
      ...responseHeaders(upstream.headers),
      ...prepared.responseHeaders,
      'x-inference-endpoint': endpoint.name,
    });
    upstream.pipe(res);
  }

  /** An engine's error, read whole (bounded) and answered in the gateway's own OpenAI shape. */
  private async relayError(
    res: ServerResponse,
    upstream: IncomingMessage,
    prepared: Prepared,
    endpoint: EndpointState,
    release: () => void,
  ): Promise<void> {
    const status = upstream.statusCode ?? 502;
    const labels = { model: prepared.model, endpoint: endpoint.name };
    let error: GatewayError;
    try {
      error = engineError(status, await readAll(upstream, MAX_ENGINE_ERROR_BYTES), endpoint.name);
    } catch (err) {
      upstream.destroy();
      release();
      if (res.destroyed) return;
      error = new GatewayError(
        502,
        'upstream_error',
        `The engine ${endpoint.name} answered HTTP ${status} with an unreadable body (${(err as Error).message}).`,
      );
    }
    release();
    if (status >= 500) this.recordFailure(endpoint);
    else endpoint.recordSuccess();
    this.metrics.requests.inc({ ...labels, status: error.status });
    this.metrics.latency.observe(labels, (performance.now() - prepared.started) / 1000);
    if (res.destroyed) return;
    for (const [name, value] of Object.entries(prepared.responseHeaders)) res.setHeader(name, value);
    res.setHeader('x-inference-endpoint', endpoint.name);
    sendError(res, error);
  }
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

/** The stable part of a prompt, replayed to warm another endpoint's cache: a chat without its newest message. */
function warmPrompt(prepared: Prepared): WarmPrompt | undefined {
  if (prepared.kind === 'chat') {
    const messages = prepared.body.messages as unknown[];
    return { kind: 'chat', messages: messages.length > 1 ? messages.slice(0, -1) : messages };
  }
  if (prepared.kind === 'completion')
    return { kind: 'completion', prompt: prepared.text.slice(0, DEFAULT_PREFIX_KEY_BLOCKS * BLOCK_CHARS) };
  return undefined;
}
