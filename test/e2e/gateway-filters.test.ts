import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, startSimulator, type RedisServer, type Simulator } from '../helpers/components.ts';
import {
  chat,
  gatewayMetric,
  MODEL,
  question,
  startGateway,
  until,
  type RunningGateway,
} from '../helpers/gateway.ts';

describe('prompt guard and semantic cache', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let gw: RunningGateway;

  before(async () => {
    sim = await startSimulator();
    redis = await startRedis();
    gw = await startGateway({
      models: [
        {
          model: MODEL,
          services: [
            {
              name: 'guarded',
              endpoints: [{ url: sim.url, name: 'sim' }],
              nlpFilters: {
                promptGuard: { blockedPatterns: ['SSN', 'CreditCard', 'Name', 'regex:(?i)project\\s+x'] },
                semanticCache: { storeRef: redis.url, threshold: 0.85, ttlSeconds: 2 },
              },
            },
          ],
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    sim.stop();
    redis.stop();
  });

  it('blocks prompts that match a detector with 400 prompt_blocked, naming the detector and never the text', async () => {
    for (const [prompt, detector] of [
      ['my social security number is 123-45-6789', 'SSN'],
      ['charge 4111 1111 1111 1111 please', 'CreditCard'],
      ['Hello, my name is Alice', 'Name'],
      ['what is PROJECT X about?', 'regex[3]'],
    ] as const) {
      const r = await chat(gw.url, question(prompt), { 'x-semantic-cache-bypass': '1' });
      assert.equal(r.status, 400, prompt);
      const error = r.json.error as { code: string; message: string };
      assert.equal(error.code, 'prompt_blocked');
      assert.match(error.message, new RegExp(detector.replace(/[[\]]/g, '\\$&')));
      for (const secret of ['123-45-6789', '4111', 'Alice', 'PROJECT X'])
        assert.ok(
          !error.message.includes(secret) && !gw.logs.join('\n').includes(secret),
          `leaked ${secret}`,
        );
    }
    assert.equal(
      await gatewayMetric(gw.url, 'infctl_gateway_prompt_guard_blocks_total', { detector: 'SSN' }),
      1,
    );
    const allowed = await chat(gw.url, question('what is the capital of France?'), {
      'x-semantic-cache-bypass': '1',
    });
    assert.equal(allowed.status, 200);
  });

  it('blocks an SSN in an embeddings input and in a chat content part, and lets a clean input through', async () => {
    const embeddings = (input: unknown) =>
      fetch(`${gw.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, input }),
      });
    const embedded = await embeddings(['hello', 'my ssn is １２３\u200b-４５-６７８９']);
    assert.equal(embedded.status, 400);
    const embedError = (
      (await embedded.json()) as { error: { code: string; message: string; param: string } }
    ).error;
    assert.equal(embedError.code, 'prompt_blocked');
    assert.equal(embedError.param, 'input');
    assert.match(embedError.message, /SSN/);
    const parts = await chat(
      gw.url,
      question('', {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'please file this:' },
              { type: 'text', text: 'ssn 123.45.6789' },
            ],
          },
        ],
      }),
      { 'x-semantic-cache-bypass': '1' },
    );
    assert.equal(parts.status, 400);
    assert.equal((parts.json.error as { code: string }).code, 'prompt_blocked');
    for (const secret of ['6789', '６７８９'])
      assert.ok(!gw.logs.join('\n').includes(secret), `the log leaked ${secret}`);
    assert.equal((await embeddings('a harmless sentence')).status, 200);
  });

  it('answers a paraphrase from the cache, replays it as SSE, honours bypass and expires with the TTL', async () => {
    const first = await chat(gw.url, question('How do I reset my password?'));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cache'), 'miss');
    const original = (first.json.choices as { message: { content: string } }[])[0]!.message.content;
    // The answer is stored after the response ends; wait for it in Redis itself.
    const client = new Redis(redis.url);
    client.on('error', () => {});
    await until('the answer was stored', async () =>
      (await client.keys('infctl:semcache:chat:*:a:*')).length === 1 ? true : undefined,
    );
    client.disconnect();
    const hit = await chat(gw.url, question('How can I reset my password?'));
    assert.equal(hit.headers.get('x-cache'), 'hit');
    assert.equal((hit.json.choices as { message: { content: string } }[])[0]!.message.content, original);
    assert.equal(hit.headers.get('x-inference-endpoint'), null);

    const unrelated = await chat(gw.url, question('Which rivers flow through Germany?'));
    assert.equal(unrelated.headers.get('x-cache'), 'miss');

    const streamed = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(question('how do i reset my password', { stream: true })),
    });
    assert.equal(streamed.headers.get('x-cache'), 'hit');
    assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = (await streamed.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.at(-1), 'data: [DONE]');
    const replayed = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta
            .content ?? '',
      )
      .join('');
    assert.equal(replayed, original);

    const bypass = await chat(gw.url, question('How can I reset my password?'), {
      'x-semantic-cache-bypass': '1',
    });
    assert.equal(bypass.headers.get('x-cache'), 'bypass');
    assert.equal(bypass.headers.get('x-inference-endpoint'), 'sim');

    await new Promise((r) => setTimeout(r, 2500));
    const expired = await chat(gw.url, question('How can I reset my password?'));
    assert.equal(expired.headers.get('x-cache'), 'miss');
    assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_semantic_cache_total', { result: 'hit' })) >= 2);
  });

  it('keeps answering as a miss while Redis is down', async () => {
    redis.stop();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw.url, question(`still working ${i}?`));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-cache'), 'miss');
    }
    assert.ok((await gatewayMetric(gw.url, 'infctl_gateway_semantic_cache_total', { result: 'error' })) >= 3);
    assert.ok(gw.logs.some((l) => l.includes('unavailable')));
  });
});

describe('semantic cache scope', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let gw: RunningGateway;
  let client: Redis;

  const service = (name: string, cache: Record<string, unknown>) => ({
    model: name,
    services: [
      {
        name,
        backendModel: MODEL,
        endpoints: [{ url: sim.url, name: 'sim' }],
        nlpFilters: { semanticCache: { storeRef: redis.url, threshold: 0.85, ttlSeconds: 60, ...cache } },
      },
    ],
  });
  const answers = async () => (await client.keys('infctl:semcache:chat:*:a:*')).length;
  /** Asks, and when the model answered waits until the answer is stored. */
  const ask = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const stored = await answers();
    const r = await chat(gw.url, body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (r.headers.get('x-cache') === 'miss')
      await until('the answer was stored', async () => ((await answers()) > stored ? true : undefined));
    return {
      cache: r.headers.get('x-cache'),
      content: (r.json.choices as { message: { content: string } }[])[0]!.message.content,
    };
  };

  before(async () => {
    sim = await startSimulator();
    redis = await startRedis();
    client = new Redis(redis.url);
    client.on('error', () => {});
    gw = await startGateway({
      models: [service('private', { tenantHeader: 'X-Tenant-Id' }), service('shared', { scope: 'shared' })],
    });
  });
  after(async () => {
    client.disconnect();
    await gw.stop();
    sim.stop();
    redis.stop();
  });

  it('never gives user B the answer user A received; the same user with the same parameters hits', async () => {
    const alice = { model: 'private', user: 'alice', temperature: 0.2, max_tokens: 6 };
    const a = await ask({ ...alice, messages: [{ role: 'user', content: 'How do I reset my password?' }] });
    assert.equal(a.cache, 'miss');
    const paraphrase = [{ role: 'user', content: 'How can I reset my password?' }];
    // The second user: other session, other user, other temperature and max_tokens.
    const bob = await ask(
      { model: 'private', user: 'bob', temperature: 0.9, max_tokens: 7, messages: paraphrase },
      { 'x-session-id': 'bob-session' },
    );
    assert.equal(bob.cache, 'miss');
    // Another user alone, with alice's parameters: still not alice's answer.
    assert.equal((await ask({ ...alice, user: 'carol', messages: paraphrase })).cache, 'miss');
    // Alice with other sampling parameters: another answer.
    assert.equal((await ask({ ...alice, temperature: 1.1, messages: paraphrase })).cache, 'miss');
    assert.equal((await ask({ ...alice, seed: 7, messages: paraphrase })).cache, 'miss');
    const again = await ask({ ...alice, messages: paraphrase });
    assert.deepEqual(again, { cache: 'hit', content: a.content });
    // The configured tenant header decides over the client's own `user` field.
    const t1 = await ask({ ...alice, messages: paraphrase }, { 'x-tenant-id': 't1' });
    assert.equal(t1.cache, 'miss');
    assert.equal((await ask({ ...alice, messages: paraphrase }, { 'x-tenant-id': 't2' })).cache, 'miss');
    assert.deepEqual(
      await ask({ ...alice, user: 'mallory', messages: paraphrase }, { 'x-tenant-id': 't1' }),
      {
        cache: 'hit',
        content: t1.content,
      },
    );
  });

  it('shares answers across users with scope shared, still per sampling parameters and route', async () => {
    const params = { model: 'shared', temperature: 0.2, max_tokens: 6 };
    const a = await ask({
      ...params,
      user: 'alice',
      messages: [{ role: 'user', content: 'Where is the train station?' }],
    });
    assert.equal(a.cache, 'miss');
    const paraphrase = [{ role: 'user', content: 'Where can I find the train station?' }];
    assert.deepEqual(await ask({ ...params, user: 'bob', messages: paraphrase }), {
      cache: 'hit',
      content: a.content,
    });
    assert.equal((await ask({ ...params, max_tokens: 9, user: 'bob', messages: paraphrase })).cache, 'miss');
    // The private route never sees the shared route's answers, even for the same user.
    assert.equal(
      (await ask({ ...params, model: 'private', user: 'alice', messages: paraphrase })).cache,
      'miss',
    );
  });
});
