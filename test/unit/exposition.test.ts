import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';

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
});
