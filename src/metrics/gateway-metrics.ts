import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Token pacing: vLLM's own inter-token buckets start at 10 ms; a relayed stream can be faster than that. */
const INTER_TOKEN_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5,
];
/** The gateway's own share of a request: usually milliseconds, seconds when an embedder or a prefill is slow. */
const WAIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The gateway's metrics, in a registry of its own (several gateways may run in one process in tests). */
export interface EndpointGaugeSource {
  name: string;
  inFlight: number;
  kvUsage?: number;
  role?: string;
  /** Whether the endpoint may take requests now (ready, healthy, not ejected). */
  available?: (now: number) => boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  /** Read when /metrics is scraped, so the gauges always show the current endpoints. */
  endpointSource: () => Iterable<EndpointGaugeSource> = () => [];
  readonly requests = new Counter({
    name: 'infctl_gateway_requests_total',
    help: 'Requests answered, by model, endpoint (or "none") and HTTP status.',
    labelNames: ['model', 'endpoint', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'infctl_gateway_request_duration_seconds',
    help: 'Time from request received to response finished, by model and endpoint.',
    labelNames: ['model', 'endpoint'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly ttft = new Histogram({
    name: 'infctl_gateway_time_to_first_byte_seconds',
    help: 'Time from request received to the first response byte from the endpoint (time to first token when streaming).',
    labelNames: ['model', 'endpoint'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly interTokenLatency = new Histogram({
    name: 'infctl_gateway_inter_token_latency_seconds',
    help:
      'Time between consecutive streamed events (token chunks) of a streaming response as the gateway relays them, ' +
      'by model and endpoint. The first chunk starts the clock; a chunk that carries n events after a gap counts ' +
      'n intervals of gap/n; [DONE] is not an event.',
    labelNames: ['model', 'endpoint'] as const,
    buckets: INTER_TOKEN_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDuration = new Histogram({
    name: 'infctl_gateway_queue_duration_seconds',
    help:
      'Time from request received to the request sent to the endpoint that answered it, by model: reading the ' +
      'body, the filters (prompt guard, semantic-cache lookup), a P/D prefill, scheduling and the attempts that ' +
      'failed before. The gateway has no queue of its own; this is all the wait it adds before the engine ' +
      '(whose own queue is vllm:request_queue_time_seconds). Requests answered by a filter are not counted.',
    labelNames: ['model'] as const,
    buckets: WAIT_BUCKETS,
    registers: [this.registry],
  });
  readonly prefixBlocks = new Counter({
    name: 'infctl_gateway_prefix_blocks_total',
    help:
      'Prompt prefix blocks (64 characters, about 16 tokens) the gateway sent to endpoints that answered, by ' +
      'model; a P/D request counts at its prefill and its decode endpoint.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly prefixMatchedBlocks = new Counter({
    name: 'infctl_gateway_prefix_matched_blocks_total',
    help:
      'Of infctl_gateway_prefix_blocks_total, the leading blocks the chosen endpoint already held by the ' +
      "gateway's own prefix index (what it sent there before, bounded and least recently used first like an " +
      "engine's prefix cache): an estimate of the prefix-cache hit rate routing achieved, by model.",
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'infctl_gateway_routing_decisions_total',
    help:
      "Routing decisions, by model, the route's strategy (its routeStrategy) and the scorer that contributed " +
      'most to the choice (the picker when no scorer ran).',
    labelNames: ['model', 'strategy', 'scorer'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'infctl_gateway_retries_total',
    help: 'Attempts retried on another endpoint after a connection failed before the first byte.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly ejections = new Counter({
    name: 'infctl_gateway_ejections_total',
    help: 'Endpoints ejected by passive outlier detection.',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  readonly semanticCache = new Counter({
    name: 'infctl_gateway_semantic_cache_total',
    help: 'Semantic cache lookups, by model and result (hit, miss, bypass, error).',
    labelNames: ['model', 'result'] as const,
    registers: [this.registry],
  });
  readonly promptGuardBlocks = new Counter({
    name: 'infctl_gateway_prompt_guard_blocks_total',
    help: 'Requests blocked by the prompt guard, by model and detector.',
    labelNames: ['model', 'detector'] as const,
    registers: [this.registry],
  });
  readonly prefillDecode = new Counter({
    name: 'infctl_gateway_prefill_decode_total',
    help: 'Prefill/decode two-step requests, by model and outcome (ok, prefill_failed).',
    labelNames: ['model', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'infctl_gateway_endpoint_in_flight',
    help: 'Requests in flight per endpoint from this gateway.',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
    collect: () => {
      this.inFlight.reset();
      for (const e of this.endpointSource()) this.inFlight.set({ endpoint: e.name }, e.inFlight);
    },
  });
  readonly endpointAvailable = new Gauge({
    name: 'infctl_gateway_endpoint_available',
    help: 'Whether each endpoint may take requests now (1: ready, healthy and not ejected; 0: not), by role.',
    labelNames: ['endpoint', 'role'] as const,
    registers: [this.registry],
    collect: () => {
      this.endpointAvailable.reset();
      const now = Date.now();
      for (const e of this.endpointSource())
        if (e.available)
          this.endpointAvailable.set({ endpoint: e.name, role: e.role ?? 'both' }, e.available(now) ? 1 : 0);
    },
  });
  readonly endpointKvUsage = new Gauge({
    name: 'infctl_gateway_endpoint_kv_cache_usage',
    help: 'The KV-cache usage last scraped from each endpoint (0-1).',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
    collect: () => {
      this.endpointKvUsage.reset();
      for (const e of this.endpointSource())
        if (e.kvUsage !== undefined) this.endpointKvUsage.set({ endpoint: e.name }, e.kvUsage);
    },
  });
}
