import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { metricSum, metricSumInText, parseExposition } from '../../src/metrics/exposition.ts';

const reference = readFileSync(new URL('../fixtures/vllm/metrics-sample.prom', import.meta.url), 'utf8');

describe('Prometheus exposition parser', () => {
  it("reads vLLM's reference /metrics with _total counters", () => {
    const samples = parseExposition(reference);
    assert.equal(metricSum(samples, 'vllm:kv_cache_usage_perc'), 0.4219);
    assert.equal(metricSum(samples, 'vllm:prefix_cache_hits'), 1310720);
    assert.equal(metricSum(samples, 'vllm:prefix_cache_queries_total'), 2097152);
    assert.equal(metricSum(samples, 'vllm:num_requests_waiting'), 3);
    const running = samples.find((s) => s.name === 'vllm:num_requests_running');
    assert.deepEqual(running?.labels, { engine: '0', model_name: 'Qwen/Qwen3-8B' });
  });

  it("reads the simulator's counters without _total", () => {
    const samples = parseExposition(
      'vllm:prefix_cache_hits{model_name="m"} 592\nvllm:prefix_cache_queries{model_name="m"} 1210\n',
    );
    assert.equal(metricSum(samples, 'vllm:prefix_cache_hits'), 592);
    assert.equal(metricSum(samples, 'vllm:prefix_cache_queries_total'), 1210);
  });

  it('handles escaped label values, braces in values, and special floats', () => {
    const [a, b] = parseExposition('m{path="/a}b",q="say \\"hi\\"\\n"} 1.5e3\nn +Inf\n');
    assert.deepEqual(a, { name: 'm', labels: { path: '/a}b', q: 'say "hi"\n' }, value: 1500 });
    assert.equal(b?.value, Infinity);
  });

  it('rejects malformed lines', () => {
    assert.throws(() => parseExposition('m{a="1" 2'), /unterminated/);
    assert.throws(() => parseExposition('m'), /without value/);
  });

  it('reports an absent metric as undefined, not 0', () => {
    assert.equal(metricSum(parseExposition(reference), 'vllm:does_not_exist'), undefined);
  });

  it('sums a metric straight from the text exactly as metricSum does over the parsed samples', () => {
    const samples = parseExposition(reference);
    for (const name of [
      'vllm:kv_cache_usage_perc',
      'vllm:gpu_cache_usage_perc',
      'vllm:num_requests_waiting',
      'vllm:num_requests_running',
      'vllm:prefix_cache_hits',
      'vllm:prefix_cache_queries_total',
      'vllm:does_not_exist',
    ])
      assert.equal(metricSumInText(reference, name), metricSum(samples, name), name);
    const text = [
      '# HELP m_running running',
      'm_running_total{a="x}y"} 2',
      'm_running 3 1700000000',
      'm_running_seconds 100',
      'xm_running 7',
      'm_running{b="\\"q"} NaN',
    ].join('\n');
    assert.equal(metricSumInText(text.split('\n').slice(0, 5).join('\n'), 'm_running'), 5);
    assert.ok(Number.isNaN(metricSumInText(text, 'm_running')!));
  });
});
