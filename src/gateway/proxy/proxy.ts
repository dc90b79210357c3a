import type { ServingRole } from '../../api/index.ts';
import type { Agent, IncomingMessage } from 'node:http';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.ts';
import type { HotPrefixes } from '../admin/hot-prefixes.ts';
import type { EndpointRegistry } from '../endpoints/endpoint-registry.ts';
import type { EndpointState, OutlierPolicy } from '../endpoints/endpoint-state.ts';
import { GatewayError, sendError } from '../errors.ts';
import { answerFromJson, StreamedAnswer } from '../filters/answers.ts';
import type { RequestContext } from '../request-context.ts';
import { NoCandidateError } from '../scheduling/framework.ts';
import { warmPrompt } from '../scheduling/prefix-blocks.ts';
import type { PrefixIndex } from '../scheduling/prefix-index.ts';
import type { ProfilePlan } from '../scheduling/profile-handler.ts';
import { engineError, MAX_ENGINE_ERROR_BYTES } from './engine-errors.ts';
import { prefill } from './prefill.ts';
import { InterTokenClock, SseEventCounter } from './token-timing.ts';
import type { ConnectionFailure } from './upstream.ts';
import {
  callUpstream,
  isLocalError,
  MAX_CAPTURE_BYTES,
  readAll,
  responseHeaders,
  type UpstreamSettings,
  type UpstreamTimeouts,
} from './upstream.ts';

export interface ProxyOptions {
  timeouts: UpstreamTimeouts;
  /** Attempts per request when connections fail before the first byte (each on another endpoint). */
  maxAttempts: number;
  outlier: OutlierPolicy;
  log: (message: string) => void;
}

export interface ProxyDeps {
  agent: Agent;
  endpoints: EndpointRegistry;
  metrics: GatewayMetrics;
  hotPrefixes: HotPrefixes;
  /** Which prefix blocks each endpoint was sent: PrecisePrefix scores by it, every route feeds it. */
  prefixIndex: PrefixIndex;
}

/** The prompt blocks an endpoint was sent and how many of the leading ones it held already. */
export interface PrefixSent {
  blocks: number;
  matched: number;
}

/** Sends a routed request to the endpoints its profiles pick: retries before the first byte, then relays. */
export class Proxy {
  readonly upstream: UpstreamSettings;

  constructor(
    readonly options: ProxyOptions,
    readonly deps: ProxyDeps,
  ) {
    this.upstream = {
      timeouts: options.timeouts,
      agent: deps.agent,
      liveness: (endpoint) => deps.endpoints.liveness(endpoint),
    };
  }

  /**
   * Records that `endpoint` is sent the request's prompt (the prefix index) and returns how much of it the
   * endpoint held before, for the prefix-hit estimate once the endpoint answers.
   */
  sendPrefix(ctx: RequestContext, endpoint: EndpointState): PrefixSent {
    const { blocks } = ctx.keys;
    const { prefixIndex } = this.deps;
    const matched = prefixIndex.matchedBlocks(endpoint.url, blocks);
    prefixIndex.record(endpoint.url, blocks);
    return { blocks: blocks.length, matched };
  }

  /** The endpoint answered the prompt `sent`: counts it into the prefix-hit estimate. */
  countPrefix(ctx: RequestContext, sent: PrefixSent): void {
    if (sent.blocks === 0) return;
    this.deps.metrics.prefixBlocks.inc({ model: ctx.model }, sent.blocks);
    this.deps.metrics.prefixMatchedBlocks.inc({ model: ctx.model }, sent.matched);
  }

  /** Counts the request's prefix as served by `endpoint` in its role (the admin API's hot prefixes). */
  recordHot(ctx: RequestContext, role: ServingRole, endpoint: EndpointState): void {
    if (ctx.keys.prefixKey === undefined) return;
    this.deps.hotPrefixes.record(ctx.model, role, ctx.keys.prefixKey, endpoint.url, Date.now(), () =>
      warmPrompt(ctx.request, ctx.keys),
    );
  }

  recordFailure(endpoint: EndpointState): void {
    if (endpoint.recordFailure(Date.now(), this.options.outlier)) {
      this.deps.metrics.ejections.inc({ endpoint: endpoint.name });
      this.options.log(
        `ejected endpoint ${endpoint.name} (${endpoint.url}) after ${endpoint.consecutiveFailures} failures in a row, until ${new Date(endpoint.ejectedUntil).toISOString()}`,
      );
    }
  }

  /**
   * Runs the plan's preparing profiles (a prefill), then serves the request on the primary profile: the
   * scheduler's choice, another endpoint when a connection fails before the first byte, then the relay.
   */
  async send(ctx: RequestContext, plan: ProfilePlan): Promise<void> {
    for (const prepare of plan.prepare) {
      await prefill(this, ctx, prepare);
      if (ctx.res.destroyed) return;
    }
    const role = plan.primary;
    const { res, model } = ctx;
    const { metrics } = this.deps;
    const tried = new Set<EndpointState>();
    let lastError: ConnectionFailure | undefined;
    /** Kept-alive connections found closed: retried on a new connection without counting as an attempt. */
    let staleRetries = 0;
    /** What each endpoint held of the prompt when first sent it (a stale retry sends it again). */
    const sentTo = new Map<EndpointState, PrefixSent>();
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      let endpoint: EndpointState;
      try {
        const decision = ctx.scheduler.schedule(
          { ...ctx.scheduling, role, exclude: tried, now: Date.now() },
          ctx.endpoints,
        );
        endpoint = decision.endpoint;
        metrics.decisions.inc({
          model,
          strategy: ctx.route.routing.routeStrategy,
          scorer: decision.decidedBy,
        });
      } catch (err) {
        if (!(err instanceof NoCandidateError)) throw err;
        metrics.requests.inc({ model, endpoint: 'none', status: lastError ? 502 : 503 });
        if (lastError)
          throw new GatewayError(
            lastError.timedOut ? 504 : 502,
            lastError.timedOut ? 'upstream_timeout' : 'upstream_unavailable',
            `Every endpoint tried for model "${model}" failed before answering; last error: ${lastError.message}`,
          );
        throw new GatewayError(503, 'no_healthy_upstream', `${err.message}.`);
      }
      if (attempt > 1) metrics.retries.inc({ model });
      tried.add(endpoint);
      endpoint.inFlight++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        endpoint.inFlight--;
      };
      const sent = sentTo.get(endpoint) ?? this.sendPrefix(ctx, endpoint);
      sentTo.set(endpoint, sent);
      const sentAt = performance.now();
      const call = callUpstream(endpoint, ctx.path, ctx.req.headers, ctx.forward, this.upstream);
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
          metrics.requests.inc({ model, endpoint: 'none', status: 503 });
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
      metrics.queueDuration.observe({ model }, (sentAt - ctx.started) / 1000);
      // An engine's error answer computed nothing worth counting as a hit or a miss.
      if ((upstream.statusCode ?? 502) < 400) this.countPrefix(ctx, sent);
      try {
        this.recordHot(ctx, role, endpoint);
        this.relay(ctx, upstream, endpoint, release);
      } catch (err) {
        // Once the response arrived, every way out reads it or drops it: an unread one holds its socket.
        upstream.destroy();
        call.request.destroy();
        release();
        throw err;
      }
      return;
    }
    metrics.requests.inc({ model, endpoint: 'none', status: 502 });
    throw new GatewayError(
      lastError?.timedOut ? 504 : 502,
      lastError?.timedOut ? 'upstream_timeout' : 'upstream_unavailable',
      `${this.options.maxAttempts} attempts for model "${model}" failed before the first byte; last error: ${lastError?.message}`,
    );
  }

  /**
   * Streams the endpoint's answer to the client chunk by chunk (a slow client pauses the endpoint's response); a 200 answer is
   * also read whole for the filters' `after` when one asked for it.
   */
  private relay(
    ctx: RequestContext,
    upstream: IncomingMessage,
    endpoint: EndpointState,
    release: () => void,
  ): void {
    const { res } = ctx;
    const { metrics } = this.deps;
    const status = upstream.statusCode ?? 502;
    const labels = { model: ctx.model, endpoint: endpoint.name };
    if (status >= 400) {
      void this.relayError(ctx, upstream, endpoint, release);
      return;
    }
    const kind = ctx.answerKind;
    const streamed = (upstream.headers['content-type'] ?? '').includes('text/event-stream');
    const capture =
      kind && status === 200 ? (streamed ? new StreamedAnswer(kind) : ([] as Buffer[])) : undefined;
    let captured = 0;
    let first = true;
    const events = streamed && status === 200 ? new SseEventCounter() : undefined;
    const clock = new InterTokenClock();
    const observeInterval = (seconds: number) => metrics.interTokenLatency.observe(labels, seconds);
    let paused = false;
    const resume = () => {
      paused = false;
      upstream.resume();
    };
    // One listener relays, times the first byte and captures (no pipe: its listeners cost per chunk and per
    // request); a client that reads slowly pauses the endpoint's response until it drains.
    upstream.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (first) {
        first = false;
        metrics.ttft.observe(labels, (now - ctx.started) / 1000);
      }
      if (events) clock.arrived(now, events.push(chunk), observeInterval);
      if (capture instanceof StreamedAnswer) capture.push(chunk);
      else if (capture && captured < MAX_CAPTURE_BYTES) {
        capture.push(chunk);
        captured += chunk.length;
      }
      if (res.destroyed) return;
      if (!res.write(chunk) && !paused) {
        paused = true;
        upstream.pause();
        res.once('drain', resume);
      }
    });
    upstream.on('end', () => {
      try {
        release();
        if (status >= 500) this.recordFailure(endpoint);
        else endpoint.recordSuccess();
        metrics.requests.inc({ ...labels, status });
        metrics.latency.observe(labels, (performance.now() - ctx.started) / 1000);
        if (!kind || !capture) return;
        const answer =
          capture instanceof StreamedAnswer
            ? capture.answer()
            : captured < MAX_CAPTURE_BYTES
              ? answerFromJson(kind, Buffer.concat(capture))
              : undefined;
        if (answer) for (const filter of ctx.filters) filter.after?.(ctx, answer);
      } finally {
        if (!res.destroyed) res.end();
      }
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
      ...ctx.responseHeaders,
      'x-inference-endpoint': endpoint.name,
    });
  }

  /** An engine's error, read whole (bounded) and answered in the gateway's own OpenAI shape. */
  private async relayError(
    ctx: RequestContext,
    upstream: IncomingMessage,
    endpoint: EndpointState,
    release: () => void,
  ): Promise<void> {
    const { res } = ctx;
    const status = upstream.statusCode ?? 502;
    const labels = { model: ctx.model, endpoint: endpoint.name };
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
    this.deps.metrics.requests.inc({ ...labels, status: error.status });
    this.deps.metrics.latency.observe(labels, (performance.now() - ctx.started) / 1000);
    if (res.destroyed) return;
    for (const [name, value] of Object.entries(ctx.responseHeaders)) res.setHeader(name, value);
    res.setHeader('x-inference-endpoint', endpoint.name);
    sendError(res, error);
  }
}
