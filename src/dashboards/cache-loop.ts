import { q, timeseries, row, type DashboardSpec } from './grafana.ts';
import { counter, increase, quantile } from './queries.ts';

const R = 'resource=~"$resource"';
const actions = `${counter('inference_cache_actions', R)}`;
const CACHE_ACTIVITIES = 'activity_type=~"findCacheReplicas|scrapeCacheMetrics|evictCache|transferCache"';

/** The InferenceCache loop: what it saw, the thresholds it compared against, and what it did. */
export const CACHE_LOOP: DashboardSpec = {
  file: 'cache-loop',
  title: 'Inference: cache loop',
  description:
    'Each InferenceCache loop’s windowed view of its pool against its thresholds (thresholdHitRate, evictionThreshold, overrides included), and its decisions.',
  variables: [
    {
      name: 'resource',
      label: 'InferenceCache',
      query: 'label_values(inference_cache_pool_hit_rate, resource)',
    },
  ],
  annotations: [
    {
      name: 'Cache actions',
      expr: `sum by (resource, action, trigger, outcome) (increase(${actions}[1m])) > 0`,
      color: 'orange',
      title: '{{action}} ({{trigger}}, {{outcome}})',
      text: 'InferenceCache {{resource}}: see its status lastAction and `infctl history`',
      tagKeys: ['resource', 'action', 'trigger', 'outcome'],
    },
  ],
  items: [
    row('What the loop sees'),
    timeseries({
      title: 'Pool hit rate against thresholdHitRate',
      description:
        'The windowed prefix-cache hit rate of the pool; under thresholdHitRate (dashed) for sustainedPolls polls, the loop transfers the hottest prefixes of a hot replica.',
      queries: [
        q(`inference_cache_pool_hit_rate{${R}}`, 'hit rate {{resource}}'),
        q(`inference_cache_threshold_hit_rate{${R}}`, 'thresholdHitRate {{resource}}'),
      ],
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholdSeries: ['^thresholdHitRate'],
    }),
    timeseries({
      title: 'Highest KV usage against evictionThreshold',
      description:
        'The highest KV-cache usage of a replica; at or over evictionThreshold (dashed) for sustainedPolls polls, the loop evicts that replica’s prefix cache.',
      queries: [
        q(`inference_cache_max_kv_usage{${R}}`, 'max KV usage {{resource}}'),
        q(`inference_cache_eviction_threshold{${R}}`, 'evictionThreshold {{resource}}'),
      ],
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholdSeries: ['^evictionThreshold'],
    }),
    timeseries({
      title: 'Hit rate by replica',
      description: 'Each replica’s windowed prefix-cache hit rate, as the loop computed it.',
      queries: [q(`inference_cache_replica_hit_rate{${R}}`, '{{replica}}')],
      unit: 'percentunit',
      min: 0,
      max: 1,
    }),
    timeseries({
      title: 'KV usage by replica',
      description: 'Each replica’s KV-cache usage at the last poll, as the loop read it.',
      queries: [q(`inference_cache_replica_kv_usage{${R}}`, '{{replica}}')],
      unit: 'percentunit',
      min: 0,
      max: 1,
    }),
    row('What the loop did'),
    timeseries({
      title: 'Actions',
      description:
        'Evictions and transfers by trigger (automatic, manual) and outcome (done, failed, suppressed while actions are paused).',
      queries: [
        q(`sum by (action, trigger, outcome) (${increase(actions)})`, '{{action}} {{trigger}} {{outcome}}'),
      ],
      unit: 'short',
      bars: true,
      stacked: true,
    }),
    timeseries({
      title: 'Cache activity latency',
      description: 'p90 of the loop’s activities: finding replicas, scraping them, evicting, transferring.',
      queries: [
        q(
          quantile(0.9, 'temporal_activity_execution_latency_seconds', 'activity_type', CACHE_ACTIVITIES),
          '{{activity_type}}',
        ),
      ],
      unit: 's',
    }),
  ],
};
