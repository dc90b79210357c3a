import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HotPrefixes } from '../../src/gateway/admin/hot-prefixes.ts';
import { AdminServer } from '../../src/gateway/admin/admin-server.ts';
import { EndpointState } from '../../src/gateway/endpoints/endpoint-state.ts';
import { DEFAULT_ROUTING } from '../../src/gateway/routes/route-table.ts';
import { OwnershipTable } from '../../src/gateway/scheduling/ownership.ts';
import {
  affinityKey,
  chatPromptText,
  prefixBlockHashes,
} from '../../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../../src/gateway/scheduling/prefix-index.ts';
import { buildScheduler } from '../../src/gateway/scheduling/profiles.ts';
import { parsePolicyArgs } from '../../src/cli/engine.ts';

const eps = Array.from(
  { length: 4 },
  (_, i) =>
    new EndpointState({ name: `pod-${i}`, url: `http://10.0.0.${i}:8000`, role: 'both', ready: true }),
);
const words = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `s${seed}w${i}`).join(' ');
const chat = (seed: number, question: string) => [
  { role: 'system', content: words(seed, 120) },
  { role: 'user', content: question },
];
const requestFor = (messages: { role: string; content: string }[]) => {
  const blocks = prefixBlockHashes(chatPromptText(messages));
  const contextBlocks = Math.floor(chatPromptText(messages.slice(0, -1)).length / 64);
  return {
    model: 'm',
    blocks,
    contextBlocks,
    prefixKey: affinityKey(blocks, contextBlocks),
    role: 'both' as const,
    now: Date.now(),
  };
};

describe('prefix ownership', () => {
  it('keys every question under one system prompt alike', () => {
    assert.equal(requestFor(chat(1, 'first?')).prefixKey, requestFor(chat(1, 'another one')).prefixKey);
    assert.notEqual(requestFor(chat(1, 'first?')).prefixKey, requestFor(chat(2, 'first?')).prefixKey);
  });

  it('sends an owned prefix to its owner over the prefix hash, and back when the entry expires', () => {
    const ownership = new OwnershipTable();
    const s = buildScheduler(
      { ...DEFAULT_ROUTING, routeStrategy: 'PrefixHash' },
      { loadBound: 1.25, prefixIndex: new PrefixIndex(), ownership },
    );
    const r = requestFor(chat(7, 'q'));
    const hashed = s.schedule(r, eps).endpoint;
    const other = eps.find((e) => e !== hashed)!;
    ownership.assign('m', {
      key: r.prefixKey!,
      role: 'both',
      endpoint: other.url,
      expiresAt: r.now + 60_000,
    });
    const shifted = s.schedule(r, eps);
    assert.equal(shifted.endpoint, other);
    assert.equal(shifted.decidedBy, 'ownership');
    // Another model's request with the same prefix is not affected.
    assert.equal(s.schedule({ ...r, model: 'other' }, eps).endpoint, hashed);
    assert.equal(s.schedule({ ...r, now: r.now + 61_000 }, eps).endpoint, hashed);
  });

  it('an owner that is down is skipped by the filters', () => {
    const ownership = new OwnershipTable();
    const s = buildScheduler(
      { ...DEFAULT_ROUTING, routeStrategy: 'PrefixHash' },
      { loadBound: 1.25, prefixIndex: new PrefixIndex(), ownership },
    );
    const r = requestFor(chat(8, 'q'));
    const down = new EndpointState({ name: 'down', url: 'http://down', role: 'both', ready: false });
    ownership.assign('m', { key: r.prefixKey!, role: 'both', endpoint: down.url, expiresAt: r.now + 60_000 });
    assert.notEqual(s.schedule(r, [...eps, down]).endpoint, down);
  });

  it('bounds the table per model, oldest first', () => {
    const table = new OwnershipTable(2);
    for (let k = 1; k <= 3; k++) table.assign('m', { key: k, role: 'both', endpoint: 'e', expiresAt: 10 });
    assert.deepEqual(
      table.list('m', 0).map((e) => e.key),
      [2, 3],
    );
    assert.equal(table.clear('m', 'e'), 2);
  });
});

describe('hot prefixes', () => {
  it('ranks by decayed request counts and keeps the endpoint that served last', () => {
    const hot = new HotPrefixes(3, 1000);
    const prompt = () => ({ kind: 'completion' as const, prompt: 'p' });
    for (let i = 0; i < 4; i++) hot.record('m', 'both', 1, 'a', 0, prompt);
    hot.record('m', 'both', 2, 'a', 0, prompt);
    // Prefix 3 was busy long ago: after 4 half-lives 8 requests count as 0.5.
    for (let i = 0; i < 8; i++) hot.record('m', 'both', 3, 'b', -4000, prompt);
    assert.deepEqual(
      hot.hottest('m', 0).map((p) => p.key),
      [1, 2, 3],
    );
    assert.deepEqual(
      hot.hottest('m', 0, 'a').map((p) => p.key),
      [1, 2],
    );
    hot.record('m', 'both', 4, 'a', 0, prompt);
    assert.equal(hot.hottest('m', 0).length, 3, 'bounded per model');
    hot.record('m', 'both', 1, 'b', 0, prompt);
    assert.equal(hot.hottest('m', 0).find((p) => p.key === 1)!.endpoint, 'b');
  });

  it('keeps no prompt too large to replay', () => {
    const hot = new HotPrefixes();
    hot.record('m', 'both', 1, 'a', 0, () => ({ kind: 'completion', prompt: 'x'.repeat(40_000) }));
    assert.equal(hot.hottest('m', 0)[0]!.prompt, undefined);
  });
});

describe('the admin API', () => {
  const hot = new HotPrefixes();
  const ownership = new OwnershipTable();
  const admin = new AdminServer(
    { port: 0, host: '127.0.0.1', token: 'a-token-of-sixteen-chars' },
    {
      hotPrefixes: hot,
      ownership,
      endpoints: () => [
        ...eps,
        new EndpointState({ name: 'prefill-0', url: 'http://10.0.1.0:8000', role: 'prefill', ready: true }),
      ],
      log: () => {},
    },
  );
  let base = '';
  const call = async (method: string, path: string, body?: unknown, token = 'a-token-of-sixteen-chars') => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  before(async () => {
    base = `http://127.0.0.1:${await admin.listen()}`;
    const now = Date.now();
    for (let k = 1; k <= 6; k++)
      for (let n = 0; n < k; n++)
        hot.record('m', 'both', k, eps[0]!.url, now, () => ({ kind: 'completion', prompt: `prompt ${k}` }));
  });
  after(() => admin.close());

  it('refuses a request without the token', async () => {
    const r = await call('GET', '/admin/hot-prefixes?model=m', undefined, 'wrong-token');
    assert.equal(r.status, 401);
    assert.equal((r.body.error as { code: string }).code, 'unauthorized');
  });

  it('lists the hot prefixes of a model, hottest first', async () => {
    const r = await call('GET', '/admin/hot-prefixes?model=m&limit=3&prompts=true');
    assert.equal(r.status, 200);
    const prefixes = r.body.prefixes as { key: number; requests: number; prompt: { prompt: string } }[];
    assert.deepEqual(
      prefixes.map((p) => p.key),
      [6, 5, 4],
    );
    assert.equal(prefixes[0]!.prompt.prompt, 'prompt 6');
  });

  it('shifts half of the hottest prefixes by endpoint name and returns their prompts', async () => {
    const r = await call('POST', '/admin/ownership', { model: 'm', from: 'pod-0', to: eps[2]!.url });
    assert.equal(r.status, 200);
    const moved = r.body.moved as { key: number; prompt: { prompt: string } }[];
    assert.deepEqual(
      moved.map((m) => m.key),
      [6, 5, 4],
    );
    assert.equal(ownership.owner('m', 'both', 6, Date.now()), eps[2]!.url);
    assert.equal(ownership.owner('m', 'both', 3, Date.now()), undefined);
    const listed = await call('GET', '/admin/ownership?model=m');
    assert.equal((listed.body.entries as unknown[]).length, 3);
  });

  it('names what was wrong in a bad request', async () => {
    const unknown = await call('POST', '/admin/ownership', { model: 'm', from: 'pod-9', to: 'pod-1' });
    assert.equal(unknown.status, 404);
    assert.match((unknown.body.error as { message: string }).message, /from: "pod-9" is not an endpoint/);
    const invalid = await call('POST', '/admin/ownership', { model: 'm', from: 'pod-0' });
    assert.equal(invalid.status, 400);
    assert.equal((invalid.body.error as { param: string }).param, 'to');
    const missing = await call('GET', '/admin/hot-prefixes');
    assert.equal(missing.status, 400);
  });

  it('moves prefixes only between endpoints of one role', async () => {
    const r = await call('POST', '/admin/ownership', { model: 'm', from: 'pod-0', to: 'prefill-0' });
    assert.equal(r.status, 400);
    assert.match((r.body.error as { message: string }).message, /prefill-0 serves prefill/);
  });

  it('clears a model`s ownership', async () => {
    const r = await call('DELETE', '/admin/ownership?model=m');
    assert.equal(r.status, 200);
    assert.equal(r.body.removed, 3);
  });
});

describe('infctl set-policy arguments', () => {
  it('parses key=value words into a setPolicy request', () => {
    assert.deepEqual(
      parsePolicyArgs(['thresholdHitRate=0.5', 'cooldown=30s', 'expiresIn=10m', 'reason=load test']),
      {
        thresholdHitRate: 0.5,
        cooldown: '30s',
        expiresIn: '10m',
        reason: 'load test',
      },
    );
    assert.deepEqual(parsePolicyArgs(['clear']), { clear: true });
    assert.throws(() => parsePolicyArgs(['threshold=0.5']), /unknown key "threshold"/);
    assert.throws(() => parsePolicyArgs(['sustainedPolls=many']), /takes a number/);
  });
});
