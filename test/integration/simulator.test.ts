import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import { startSimulator, type Simulator } from '../helpers/components.ts';

/** Sends a streaming chat completion and returns the time to the first SSE data chunk, in ms. */
async function timeToFirstToken(sim: Simulator, content: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${sim.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: sim.model,
      max_tokens: 4,
      stream: true,
      messages: [{ role: 'user', content }],
    }),
  });
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let first: number | undefined;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    if (first === undefined && text.includes('data: ')) first = performance.now() - started;
  }
  assert.match(text, /data: \[DONE\]/);
  return first as number;
}

async function counters(sim: Simulator) {
  const samples = parseExposition(await (await fetch(`${sim.url}/metrics`)).text());
  return {
    hits: metricSum(samples, 'vllm:prefix_cache_hits') ?? 0,
    queries: metricSum(samples, 'vllm:prefix_cache_queries') ?? 0,
  };
}

describe('vLLM simulator (llm-d-inference-sim) with its KV cache on', () => {
  let sim: Simulator;

  before(async () => {
    sim = await startSimulator({
      args: [
        '--enable-kvcache',
        '--block-size',
        '16',
        '--kv-cache-size',
        '4096',
        '--latency-calculator',
        'per-token',
        '--prefill-time-per-token',
        '1ms',
        '--prefill-overhead',
        '5ms',
        '--inter-token-latency',
        '1ms',
      ],
    });
  });
  after(() => sim.stop());

  it('serves a chat completion', async () => {
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: sim.model,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Hello!' }],
      }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      model: string;
      choices: { message: { role: string; content: string } }[];
    };
    assert.equal(body.model, sim.model);
    assert.equal(body.choices[0]?.message.role, 'assistant');
    assert.ok((body.choices[0]?.message.content.length ?? 0) > 0);
  });

  it('raises its prefix-cache hit counter and lowers time to first token on a repeated long prompt', async () => {
    const prompt = Array.from({ length: 600 }, (_, i) => `token${i}`).join(' ');
    const before = await counters(sim);
    const cold = await timeToFirstToken(sim, prompt);
    const afterCold = await counters(sim);
    const warm = await timeToFirstToken(sim, prompt);
    const afterWarm = await counters(sim);

    assert.ok(afterCold.queries > before.queries, 'the first request is counted as a query');
    assert.ok(
      afterWarm.hits - afterCold.hits > (afterWarm.queries - afterCold.queries) / 2,
      `most of the repeat is a hit: ${JSON.stringify({ afterCold, afterWarm })}`,
    );
    assert.ok(
      warm < cold / 3,
      `cached TTFT ${warm.toFixed(1)} ms should be far below cold ${cold.toFixed(1)} ms`,
    );
  });
});
