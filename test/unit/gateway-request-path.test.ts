import type { ServingRole } from '../../src/api/index.ts';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.ts';
import { EndpointState } from '../../src/gateway/endpoints/endpoint-state.ts';
import { GatewayError } from '../../src/gateway/errors.ts';
import { PromptGuardFilter } from '../../src/gateway/filters/prompt-guard-filter.ts';
import { SemanticCache } from '../../src/gateway/filters/semantic-cache.ts';
import { SemanticCacheFilter } from '../../src/gateway/filters/semantic-cache-filter.ts';
import type { RequestContext } from '../../src/gateway/request-context.ts';
import {
  ChatRequestSchema,
  CompletionRequestSchema,
  type InferenceRequest,
} from '../../src/gateway/request-body.ts';
import { DEFAULT_ROUTING } from '../../src/gateway/routes/route-table.ts';
import { promptKeys, warmPrompt } from '../../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../../src/gateway/scheduling/prefix-index.ts';
import { PdProfileHandler } from '../../src/gateway/scheduling/profile-handler.ts';
import { buildScheduler } from '../../src/gateway/scheduling/profiles.ts';

const endpoint = (name: string, role: ServingRole) =>
  new EndpointState({ name, url: `http://${name}:8000`, role, ready: true });

const system = { role: 'system', content: 'You answer questions about the weather. '.repeat(8) };
const chat = (...questions: string[]): InferenceRequest => ({
  kind: 'chat',
  body: ChatRequestSchema.parse({
    model: 'm',
    messages: [system, ...questions.map((content) => ({ role: 'user', content }))],
  }),
});

/** A routed request as inference.ts builds it, for the filters. */
function context(request: InferenceRequest, headers: Record<string, string> = {}): RequestContext {
  const routing = DEFAULT_ROUTING;
  return {
    req: { headers } as IncomingMessage,
    res: {} as ServerResponse,
    path: '/v1/chat/completions',
    request,
    model: 'm',
    route: { model: 'm', targets: [], routing },
    target: { service: 'default/svc', weight: 1, endpoints: [], filters: {} },
    endpoints: [],
    scheduler: buildScheduler(routing, { loadBound: 1.25, prefixIndex: new PrefixIndex() }),
    filters: [],
    keys: promptKeys(request),
    scheduling: { model: 'm', blocks: [], contextBlocks: 0 },
    forward: Buffer.alloc(0),
    responseHeaders: {},
    started: 0,
  };
}

describe('P/D profile handler', () => {
  const handler = new PdProfileHandler();
  const pd = [endpoint('p', 'prefill'), endpoint('d', 'decode')];

  it('runs prefill then decode for a generation request to prefill and decode endpoints', () => {
    assert.deepEqual(handler.pick('chat', pd), { prepare: ['prefill'], primary: 'decode' });
    assert.deepEqual(handler.pick('completion', pd), { prepare: ['prefill'], primary: 'decode' });
  });

  it('runs one profile for embeddings, plain endpoints, or a service missing one of the two roles', () => {
    const single = { prepare: [], primary: 'both' };
    assert.deepEqual(handler.pick('embedding', pd), single);
    assert.deepEqual(handler.pick('chat', [endpoint('a', 'both'), endpoint('b', 'both')]), single);
    assert.deepEqual(handler.pick('chat', [endpoint('p', 'prefill'), endpoint('b', 'both')]), single);
  });
});

describe('prompt keys', () => {
  it('key every turn of a conversation alike: the conversation before the newest message', () => {
    const first = promptKeys(chat('Will it rain in Paris tomorrow?', 'and in Lyon?'));
    const second = promptKeys(chat('Will it rain in Paris tomorrow?', 'what about Nice on Sunday?'));
    assert.ok(first.contextBlocks > 0);
    assert.equal(first.contextBlocks, second.contextBlocks);
    assert.notDeepEqual(first.blocks, second.blocks);
    assert.equal(first.prefixKey, second.prefixKey);
  });

  it('hash a prompt shorter than one block whole, and leave an embedding unkeyed', () => {
    const short = promptKeys({
      kind: 'completion',
      body: CompletionRequestSchema.parse({ model: 'm', prompt: 'hi' }),
    });
    assert.equal(short.blocks.length, 1);
    assert.equal(short.prefixKey, short.blocks[0]);
    const embedding = promptKeys({ kind: 'embedding', body: { model: 'm', input: 'hello' } });
    assert.deepEqual(embedding, { text: '', blocks: [], contextBlocks: 0, prefixKey: undefined });
  });

  it('warm a chat with the messages its key covers', () => {
    const request = chat('Will it rain in Paris tomorrow?', 'and in Lyon?');
    const prompt = warmPrompt(request, promptKeys(request));
    assert.equal(prompt?.kind, 'chat');
    assert.equal(prompt?.kind === 'chat' ? prompt.messages.length : 0, 2);
  });
});

describe('request filters', () => {
  it('the prompt guard answers a blocked prompt with prompt_blocked and lets a clean one through', async () => {
    const metrics = new GatewayMetrics();
    const logs: string[] = [];
    const guard = new PromptGuardFilter([{ kind: 'detector', detector: 'SSN' }], metrics, (m) =>
      logs.push(m),
    );
    assert.equal(await guard.before(context(chat('Will it rain?'))), undefined);
    const response = await guard.before(context(chat('my ssn is 123-45-6789')));
    assert.ok(response && 'error' in response);
    assert.ok(response.error instanceof GatewayError);
    assert.equal(response.error.code, 'prompt_blocked');
    assert.equal(response.error.param, 'messages');
    assert.ok(!logs.join('\n').includes('6789'), 'the log never holds the matched text');
  });

  it('the semantic cache passes multi-answer requests by, and treats a failed lookup as a miss it does not store', async () => {
    const failing = () => ({
      name: 'failing',
      embed: () => Promise.reject(new Error('no embedder here')),
    });
    const cache = new SemanticCache(failing);
    const config = {
      redisUrl: 'redis://127.0.0.1:1',
      threshold: 0.9,
      ttlSeconds: 60,
      scope: 'user' as const,
    };
    const filter = new SemanticCacheFilter(config, cache, new GatewayMetrics(), 'x-semantic-cache-bypass');
    const many = context({
      kind: 'chat',
      body: ChatRequestSchema.parse({ model: 'm', n: 2, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(await filter.before(many), undefined);
    assert.deepEqual(many.responseHeaders, {});
    const bypass = context(chat('hi'), { 'x-semantic-cache-bypass': '1' });
    assert.equal(await filter.before(bypass), undefined);
    assert.equal(bypass.responseHeaders['x-cache'], 'bypass');
    const failed = context(chat('hi'));
    assert.equal(await filter.before(failed), undefined);
    assert.equal(failed.responseHeaders['x-cache'], 'miss');
    assert.equal(failed.answerKind, undefined, 'nothing to store after a failed lookup');
    await cache.close();
  });
});
