import { q, row, stat, timeseries, type DashboardSpec } from './grafana.ts';
import { counter, percentiles, prefixHitRate, quantile, rate } from './queries.ts';

const M = 'model=~"$model"';
const requests = (extra = '') => `infctl_gateway_requests_total{${M}${extra}}`;

/** Traffic, latency, errors and caches: is the service healthy, and where is it not? */
export const OVERVIEW: DashboardSpec = {
  file: 'overview',
  title: 'Inference: overview',
  description:
    'Traffic, time to first token, errors and caches of the models the gateway serves, and the engine replicas behind them.',
  variables: [{ name: 'model', label: 'Model', query: 'label_values(infctl_gateway_requests_total, model)' }],
  annotations: [],
  items: [
    stat({
      title: 'Requests per second',
      description: 'Requests the gateway answered, all models selected.',
      queries: [q(`sum(${rate(requests())})`, 'requests/s')],
      unit: 'reqps',
      width: 6,
    }),
    stat({
      title: 'Error ratio (5xx)',
      description: 'Share of answers with a 5xx status.',
      queries: [q(`1 - sum(${rate(requests(', status!~"5.."'))}) / sum(${rate(requests())})`, '5xx')],
      unit: 'percentunit',
      width: 6,
    }),
    stat({
      title: 'Time to first token p90',
      description: 'At the gateway: from request received to the first byte from the engine.',
      queries: [q(quantile(0.9, 'infctl_gateway_time_to_first_byte_seconds', '', M), 'p90')],
      unit: 's',
      width: 6,
    }),
    stat({
      title: 'Endpoints available',
      description: 'Endpoints that may take requests now (ready, healthy, not ejected), by role.',
      queries: [q('sum by (role) (infctl_gateway_endpoint_available)', '{{role}}')],
      unit: 'short',
      width: 6,
    }),
    row('Traffic'),
    timeseries({
      title: 'Requests by model',
      description: 'Requests answered per second, by the model asked for.',
      queries: [q(`sum by (model) (${rate(requests())})`, '{{model}}')],
      unit: 'reqps',
    }),
    timeseries({
      title: 'Answers by status',
      description: 'HTTP status of the answers (4xx includes the prompt guard’s refusals).',
      queries: [q(`sum by (status) (${rate(requests())})`, '{{status}}')],
      unit: 'reqps',
      stacked: true,
    }),
    row('Latency'),
    timeseries({
      title: 'Time to first token by model',
      description: 'At the gateway, p50/p90/p99: what a streaming client waits for before the first token.',
      queries: percentiles('infctl_gateway_time_to_first_byte_seconds', 'model', M, '{{model}}'),
      unit: 's',
    }),
    timeseries({
      title: 'End-to-end latency by model',
      description: 'At the gateway, p50/p90/p99: from request received to the last byte of the answer.',
      queries: percentiles('infctl_gateway_request_duration_seconds', 'model', M, '{{model}}'),
      unit: 's',
    }),
    timeseries({
      title: 'Inter-token latency by model',
      description:
        'At the gateway, p50/p90/p99: the time between streamed token chunks as the gateway relays them (streaming requests only).',
      queries: percentiles('infctl_gateway_inter_token_latency_seconds', 'model', M, '{{model}}'),
      unit: 's',
    }),
    timeseries({
      title: 'Gateway queueing by model',
      description:
        'p50/p90/p99 of the time from request received to the request sent to the endpoint that answered it: body, filters (semantic-cache lookup), P/D prefill, scheduling and failed attempts. The engines’ own queues are in "Requests running and waiting by replica".',
      queries: percentiles('infctl_gateway_queue_duration_seconds', 'model', M, '{{model}}'),
      unit: 's',
    }),
    timeseries({
      title: 'Engine time to first token by replica',
      description: 'p90 of vllm:time_to_first_token_seconds per replica: the engine’s own share of the wait.',
      queries: [q(quantile(0.9, 'vllm:time_to_first_token_seconds', 'pod', M), '{{pod}}')],
      unit: 's',
    }),
    timeseries({
      title: 'Engine inter-token latency by model',
      description: 'p50/p90 of vllm:inter_token_latency_seconds: the pace the engines produce tokens at.',
      queries: percentiles('vllm:inter_token_latency_seconds', 'model', M, '{{model}}').slice(0, 2),
      unit: 's',
    }),
    row('Errors'),
    timeseries({
      title: 'Error ratio by model',
      description: 'Share of answers with a 5xx status (alert InferenceGatewayErrorRatioHigh over 5%).',
      queries: [
        q(
          `1 - sum by (model) (${rate(requests(', status!~"5.."'))}) / sum by (model) (${rate(requests())})`,
          '{{model}}',
        ),
      ],
      unit: 'percentunit',
      min: 0,
    }),
    timeseries({
      title: 'Retries and ejections',
      description:
        'Attempts retried on another endpoint (connection failed before the first byte), and endpoints ejected by outlier detection.',
      queries: [
        q(`sum by (model) (${rate(`infctl_gateway_retries_total{${M}}`)})`, 'retries {{model}}'),
        q(`sum by (endpoint) (${rate('infctl_gateway_ejections_total')})`, 'ejections {{endpoint}}'),
      ],
      unit: 'ops',
    }),
    timeseries({
      title: 'Prompt guard blocks by detector',
      description: 'Requests refused by the prompt guard (400), by the detector that matched.',
      queries: [
        q(`sum by (detector) (${rate(`infctl_gateway_prompt_guard_blocks_total{${M}}`)})`, '{{detector}}'),
      ],
      unit: 'ops',
    }),
    timeseries({
      title: 'Semantic cache',
      description: 'Semantic-cache lookups by result: hit (answered from Redis), miss, bypass, error.',
      queries: [q(`sum by (result) (${rate(`infctl_gateway_semantic_cache_total{${M}}`)})`, '{{result}}')],
      unit: 'ops',
      stacked: true,
    }),
    row('Engines'),
    timeseries({
      title: 'Prefix-cache hit rate by pool',
      description: 'Tokens found in the replicas’ prefix caches over tokens queried, per InferenceService.',
      queries: [q(prefixHitRate('inference_service', M), '{{inference_service}}')],
      unit: 'percentunit',
      min: 0,
      max: 1,
    }),
    timeseries({
      title: 'KV-cache usage by replica',
      description: 'vllm:kv_cache_usage_perc of each replica (1 = full: requests queue or are preempted).',
      queries: [q(`max by (pod) (vllm:kv_cache_usage_perc{${M}})`, '{{pod}}')],
      unit: 'percentunit',
      min: 0,
      max: 1,
    }),
    timeseries({
      title: 'Requests running and waiting by replica',
      description: 'What each engine is working on and what waits in its queue.',
      queries: [
        q(`sum by (pod) (vllm:num_requests_running{${M}})`, 'running {{pod}}'),
        q(`sum by (pod) (vllm:num_requests_waiting{${M}})`, 'waiting {{pod}}'),
      ],
      unit: 'short',
    }),
    timeseries({
      title: 'Tokens by model',
      description: 'Prompt and generated tokens per second across the engines.',
      queries: [
        q(`sum by (model) (${rate(counter('vllm:prompt_tokens', M))})`, 'prompt {{model}}'),
        q(`sum by (model) (${rate(counter('vllm:generation_tokens', M))})`, 'generated {{model}}'),
      ],
      unit: 'short',
    }),
    row('Routing'),
    timeseries({
      title: 'Routing decisions by strategy and scorer',
      description:
        'Endpoint choices per second, by the route’s routeStrategy and the scorer that contributed most to the choice (prefix, session affinity, load, ...; the picker when no scorer ran).',
      queries: [
        q(
          `sum by (strategy, scorer) (${rate(`infctl_gateway_routing_decisions_total{${M}}`)})`,
          '{{strategy}} / {{scorer}}',
        ),
      ],
      unit: 'ops',
      stacked: true,
    }),
    timeseries({
      title: 'Prefix-hit estimate by model',
      description:
        'Share of the prompt-prefix blocks the gateway sent that the chosen endpoint already held by the gateway’s own prefix index (what routing achieved), beside the prefix-cache hit rate the engines measured.',
      queries: [
        q(
          `sum by (model) (${rate(`infctl_gateway_prefix_matched_blocks_total{${M}}`)})\n/ sum by (model) (${rate(`infctl_gateway_prefix_blocks_total{${M}}`)})`,
          'gateway estimate {{model}}',
        ),
        q(prefixHitRate('model', M), 'engines {{model}}'),
      ],
      unit: 'percentunit',
      min: 0,
      max: 1,
    }),
    timeseries({
      title: 'In flight by endpoint',
      description: 'Requests the gateways have in flight to each endpoint.',
      queries: [q('sum by (endpoint) (infctl_gateway_endpoint_in_flight)', '{{endpoint}}')],
      unit: 'short',
    }),
  ],
};
