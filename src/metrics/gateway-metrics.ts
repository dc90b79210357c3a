import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

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
  readonly decisions = new Counter({
    name: 'infctl_gateway_routing_decisions_total',
    help: 'Routing decisions, by model and the scorer that contributed most to the choice.',
    labelNames: ['model', 'scorer'] as const,
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
