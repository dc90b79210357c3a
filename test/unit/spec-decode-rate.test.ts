import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import { acceptanceRate } from '../../src/workflows/spec-decode-rate.ts';

describe('SpeculativeDecoding acceptance rate', () => {
  it("reads vLLM's spec_decode counters and gives the lifetime ratio on the first poll", () => {
    const samples = parseExposition(
      readFileSync(new URL('../fixtures/vllm/metrics-sample.prom', import.meta.url), 'utf8'),
    );
    const accepted = metricSum(samples, 'vllm:spec_decode_num_accepted_tokens');
    const drafted = metricSum(samples, 'vllm:spec_decode_num_draft_tokens');
    assert.equal(accepted, 261000);
    assert.equal(drafted, 450000);
    assert.equal(acceptanceRate(undefined, { accepted: 261000, drafted: 450000 }, undefined), 0.58);
  });

  it('measures the rate since the previous poll once there is one', () => {
    const previous = { accepted: 261000, drafted: 450000 };
    assert.equal(acceptanceRate(previous, { accepted: 261900, drafted: 451000 }, 0.58), 0.9);
  });

  it('keeps the last rate when nothing was drafted, and falls back to the lifetime ratio after a reset', () => {
    const previous = { accepted: 100, drafted: 200 };
    assert.equal(acceptanceRate(previous, { accepted: 100, drafted: 200 }, 0.7), 0.7);
    assert.equal(acceptanceRate(previous, { accepted: 30, drafted: 40 }, 0.7), 0.75);
    assert.equal(acceptanceRate(undefined, { accepted: 0, drafted: 0 }, undefined), undefined);
  });
});
