/**
 * PromQL pieces the dashboards share. Engine metrics use vLLM's names, which llm-d-inference-sim also exports;
 * vLLM's Python client names counters `..._total` and the simulator does not, so engine counters are selected
 * by a name regex that matches both. Engine series carry the target labels the chart's PodMonitor sets
 * (model, role, inference_service) and Prometheus' pod label.
 */

/** A counter by name, with or without `_total`, and label matchers. */
export function counter(name: string, matchers = ''): string {
  return `{__name__=~"${name}(_total)?"${matchers ? `, ${matchers}` : ''}}`;
}

/** `histogram_quantile(q, sum by (by, le) (rate(<metric>_bucket{matchers}[$__rate_interval])))`. */
export function quantile(q: number, metric: string, by: string, matchers = ''): string {
  const by_ = by ? `${by}, le` : 'le';
  return `histogram_quantile(${q}, sum by (${by_}) (rate(${metric}_bucket{${matchers}}[$__rate_interval])))`;
}

/** p50, p90 and p99 of a histogram, one query each, legends prefixed with the quantile. */
export function percentiles(metric: string, by: string, matchers: string, legend: string) {
  return [0.5, 0.9, 0.99].map((p) => ({
    expr: quantile(p, metric, by, matchers),
    legend: `p${p * 100} ${legend}`.trim(),
  }));
}

export const rate = (selector: string) => `rate(${selector}[$__rate_interval])`;
export const increase = (selector: string) => `increase(${selector}[$__rate_interval])`;

/** Hits over queries of vLLM's prefix cache (tokens), grouped by `by`. */
export function prefixHitRate(by: string, matchers: string): string {
  return (
    `sum by (${by}) (${rate(counter('vllm:prefix_cache_hits', matchers))})\n` +
    `/ sum by (${by}) (${rate(counter('vllm:prefix_cache_queries', matchers))})`
  );
}
