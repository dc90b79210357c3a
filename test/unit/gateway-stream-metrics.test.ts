import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { describe, it } from 'node:test';
import { HotPrefixes } from '../../src/gateway/admin/hot-prefixes.ts';
import { EndpointRegistry } from '../../src/gateway/endpoints/endpoint-registry.ts';
import { EndpointState, DEFAULT_OUTLIER_POLICY } from '../../src/gateway/endpoints/endpoint-state.ts';
import { Proxy } from '../../src/gateway/proxy/proxy.ts';
import { InterTokenClock, SseEventCounter } from '../../src/gateway/proxy/token-timing.ts';
import { DEFAULT_UPSTREAM_TIMEOUTS } from '../../src/gateway/proxy/upstream.ts';
import type { RequestContext } from '../../src/gateway/request-context.ts';
import { ChatRequestSchema } from '../../src/gateway/request-body.ts';
import { promptKeys } from '../../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../../src/gateway/scheduling/prefix-index.ts';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.ts';

const event = (content: string) =>
  `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`;

describe('counting streamed events', () => {
  it('counts each data event once, where its line ends, and not [DONE]', () => {
    const counter = new SseEventCounter();
    const stream = `${event('Hello')}${event(' world')}data: [DONE]\n\n`;
    assert.equal(counter.push(Buffer.from(stream)), 2);
  });

  it('counts an event split across chunks in the chunk that ends it, even split inside "data:"', () => {
    const counter = new SseEventCounter();
    const text = event('one') + event('two');
    const counts = [
      text.slice(0, 2),
      text.slice(2, 30),
      text.slice(30, event('one').length + 3),
      text.slice(event('one').length + 3),
    ].map((c) => counter.push(Buffer.from(c)));
    assert.deepEqual(counts, [0, 0, 1, 1]);
  });

  it('reads CRLF line ends, and a [DONE] split across chunks is still not an event', () => {
    const counter = new SseEventCounter();
    assert.equal(counter.push(Buffer.from(event('a').replaceAll('\n', '\r\n'))), 1);
    assert.equal(counter.push(Buffer.from('data: [DO')), 0);
    assert.equal(counter.push(Buffer.from('NE]\r\n\r\n')), 0);
  });

  it('ignores comments, event names and ids', () => {
    const counter = new SseEventCounter();
    assert.equal(counter.push(Buffer.from(`: keep-alive\nevent: message\nid: 7\n${event('x')}`)), 1);
  });
});

describe('inter-token latency from chunk arrival times', () => {
  const intervals = (arrivals: [number, number][]) => {
    const clock = new InterTokenClock();
    const seen: number[] = [];
    for (const [ms, events] of arrivals) clock.arrived(ms, events, (s) => seen.push(s));
    return seen;
  };

  it('is the time between consecutive events, in seconds; the first event starts the clock', () => {
    assert.deepEqual(
      intervals([
        [1000, 1],
        [1020, 1],
        [1050, 1],
      ]),
      [0.02, 0.03],
    );
  });

  it('shares a gap among the events of a chunk that brought several, so the sum is the stream duration', () => {
    const seen = intervals([
      [0, 1],
      [30, 3],
    ]);
    assert.deepEqual(seen, [0.01, 0.01, 0.01]);
    assert.equal(seen.length, 3);
  });

  it('times nothing before the first event, and a chunk that completes no event moves no clock', () => {
    // The first chunk's extra events came with it: no interval is known for them.
    assert.deepEqual(
      intervals([
        [0, 0],
        [100, 2],
        [110, 0],
        [140, 1],
      ]),
      [0.04],
    );
  });
});

describe('the prefix-hit estimate', () => {
  const ask = (question: string): RequestContext =>
    ({
      model: 'm',
      keys: promptKeys({
        kind: 'chat',
        body: ChatRequestSchema.parse({
          model: 'm',
          messages: [
            { role: 'system', content: 'You answer questions about one long document. '.repeat(20) },
            { role: 'user', content: question },
          ],
        }),
      }),
    }) as RequestContext;
  const setup = () => {
    const metrics = new GatewayMetrics();
    const prefixIndex = new PrefixIndex();
    const proxy = new Proxy(
      {
        timeouts: DEFAULT_UPSTREAM_TIMEOUTS,
        maxAttempts: 1,
        outlier: DEFAULT_OUTLIER_POLICY,
        log: () => {},
      },
      {
        agent: new Agent(),
        endpoints: new EndpointRegistry(),
        metrics,
        hotPrefixes: new HotPrefixes(),
        prefixIndex,
      },
    );
    const value = async (counter: 'prefixBlocks' | 'prefixMatchedBlocks') =>
      (await metrics[counter].get()).values.find((v) => v.labels.model === 'm')?.value ?? 0;
    return { proxy, prefixIndex, value };
  };
  const a = new EndpointState({ name: 'a', url: 'http://a:8000', role: 'both', ready: true });
  const b = new EndpointState({ name: 'b', url: 'http://b:8000', role: 'both', ready: true });

  it('counts a first prompt as all misses and the shared prefix of the next as hits on the same endpoint', async () => {
    const { proxy, value } = setup();
    const first = ask('What is the first section about?');
    const sent = proxy.sendPrefix(first, a);
    assert.equal(sent.matched, 0);
    proxy.countPrefix(first, sent);
    const second = ask('And the second section?');
    const again = proxy.sendPrefix(second, a);
    proxy.countPrefix(second, again);
    // The system prompt is 15 whole blocks; the questions differ only after it.
    assert.ok(again.matched >= 14 && again.matched < again.blocks, `${again.matched} of ${again.blocks}`);
    assert.equal(await value('prefixBlocks'), sent.blocks + again.blocks);
    assert.equal(await value('prefixMatchedBlocks'), again.matched);
  });

  it('counts nothing matched on an endpoint that was never sent the prefix, and feeds the index either way', () => {
    const { proxy, prefixIndex } = setup();
    proxy.sendPrefix(ask('first'), a);
    const elsewhere = ask('second');
    assert.equal(proxy.sendPrefix(elsewhere, b).matched, 0);
    assert.equal(prefixIndex.matchedBlocks(b.url, elsewhere.keys.blocks), elsewhere.keys.blocks.length);
  });
});
