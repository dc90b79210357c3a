import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointState } from '../../src/gateway/endpoints/endpoint-state.ts';
import { DEFAULT_ROUTING, type RoutingSettings } from '../../src/gateway/routes/route-table.ts';
import type { SchedulingRequest } from '../../src/gateway/scheduling/framework.ts';
import { NoCandidateError } from '../../src/gateway/scheduling/framework.ts';
import { chatPromptText, prefixBlockHashes } from '../../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../../src/gateway/scheduling/prefix-index.ts';
import { buildScheduler, scorerNames } from '../../src/gateway/scheduling/profiles.ts';

const endpoints = (n: number, role: 'both' | 'prefill' | 'decode' = 'both') =>
  Array.from(
    { length: n },
    (_, i) => new EndpointState({ name: `pod-${i}`, url: `http://10.0.0.${i}:8000`, role, ready: true }),
  );

const routing = (overrides: Partial<RoutingSettings>): RoutingSettings => ({
  ...DEFAULT_ROUTING,
  ...overrides,
});
const words = (seed: number, n: number) =>
  Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i) % 1000}`).join(' ');
const request = (text: string, extra: Partial<SchedulingRequest> = {}): SchedulingRequest => ({
  model: 'm',
  blocks: prefixBlockHashes(text),
  contextBlocks: 0,
  role: 'both',
  now: Date.now(),
  ...extra,
});
const scheduler = (overrides: Partial<RoutingSettings>) =>
  buildScheduler(routing(overrides), { loadBound: 1.25, prefixIndex: new PrefixIndex() });

describe('prefix blocks', () => {
  it('chains block hashes: equal prefixes give equal leading hashes, then they differ', () => {
    const shared = words(1, 40);
    const a = prefixBlockHashes(`${shared} first ending ${words(2, 40)}`);
    const b = prefixBlockHashes(`${shared} other ending ${words(3, 40)}`);
    const common = Math.floor(shared.length / 64);
    assert.deepEqual(a.slice(0, common), b.slice(0, common));
    assert.notEqual(a[common + 1], b[common + 1]);
  });

  it('renders chat messages with role markers, so the same words from another role differ', () => {
    assert.notEqual(
      chatPromptText([{ role: 'user', content: 'hello' }]),
      chatPromptText([{ role: 'system', content: 'hello' }]),
    );
    assert.equal(
      chatPromptText([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]),
      '<|user|>\nhi\n',
    );
  });
});

describe('profiles', () => {
  it('maps policy and strategy to scorers', () => {
    assert.deepEqual(scorerNames(routing({ routeStrategy: 'RoundRobin' })), []);
    assert.deepEqual(
      scorerNames(routing({ routeStrategy: 'LeastLoaded', schedulingPolicy: 'round-robin' })),
      ['in-flight'],
    );
    assert.deepEqual(scorerNames(routing({ routeStrategy: 'PrefixHash' })), [
      'ownership',
      'prefix-hash',
      'kv-usage',
      'queue',
      'in-flight',
    ]);
    assert.deepEqual(
      scorerNames(routing({ routeStrategy: 'PrefixHash', sessionAffinity: true })).slice(0, 3),
      ['ownership', 'session-affinity', 'prefix-hash'],
    );
  });
});

describe('scheduling', () => {
  it('round-robin takes every endpoint in turn', () => {
    const eps = endpoints(3);
    const s = scheduler({ routeStrategy: 'RoundRobin' });
    const names = Array.from({ length: 6 }, () => s.schedule(request('x'), eps).endpoint.name);
    assert.deepEqual(names, ['pod-0', 'pod-1', 'pod-2', 'pod-0', 'pod-1', 'pod-2']);
  });

  it('least-loaded picks the endpoint with the fewest requests in flight', () => {
    const eps = endpoints(3);
    eps[0]!.inFlight = 4;
    eps[1]!.inFlight = 1;
    eps[2]!.inFlight = 3;
    const s = scheduler({ routeStrategy: 'LeastLoaded', schedulingPolicy: 'least-loaded' });
    assert.equal(s.schedule(request('x'), eps).endpoint.name, 'pod-1');
  });

  it('gpu-load-aware avoids the endpoint whose KV cache and queue are full', () => {
    const eps = endpoints(3);
    eps.forEach((e, i) => {
      e.kvUsage = [0.2, 0.95, 0.3][i];
      e.waiting = [0, 12, 1][i];
    });
    const s = scheduler({ routeStrategy: 'LeastLoaded', schedulingPolicy: 'gpu-load-aware' });
    assert.equal(s.schedule(request('x'), eps).endpoint.name, 'pod-0');
  });

  it('PrefixHash sends the same prefix to the same endpoint, and different prefixes across endpoints', () => {
    const eps = endpoints(4);
    const s = scheduler({ routeStrategy: 'PrefixHash' });
    const text = words(5, 300);
    const first = s.schedule(request(text), eps).endpoint.name;
    for (let i = 0; i < 5; i++)
      assert.equal(s.schedule(request(`${text} turn ${i}`), eps).endpoint.name, first);
    const used = new Set(
      Array.from({ length: 40 }, (_, i) => s.schedule(request(words(100 + i, 300)), eps).endpoint.name),
    );
    assert.equal(used.size, 4);
  });

  it('PrefixHash spills to the next endpoint on the ring when the owner is over the load bound', () => {
    const eps = endpoints(4);
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const text = words(9, 300);
    const owner = s.schedule(request(text), eps).endpoint;
    for (const e of eps) e.inFlight = 3;
    // 9 ahead of the least loaded (8 or more), and 13 > 1.25 × (12 + 9 + 1) / 4 = 6.9: overloaded.
    owner.inFlight = 12;
    const spill = s.schedule(request(text), eps).endpoint;
    assert.notEqual(spill.name, owner.name);
    // 1 ahead: not overloaded, and the owner holds the prefix.
    owner.inFlight = 4;
    assert.equal(s.schedule(request(text), eps).endpoint.name, owner.name);
  });

  it('two gateway replicas with the same endpoints make the same choices without sharing state', () => {
    const a = scheduler({ routeStrategy: 'SessionAffinity' });
    const b = scheduler({ routeStrategy: 'SessionAffinity' });
    const epsA = endpoints(8);
    const epsB = endpoints(8).reverse();
    for (let i = 0; i < 50; i++) {
      const r = request(words(i, 100), { sessionKey: `session-${i}` });
      assert.equal(a.schedule(r, epsA).endpoint.name, b.schedule(r, epsB).endpoint.name);
    }
  });

  it('session affinity keeps a session on its endpoint while healthy, then moves it', () => {
    const eps = endpoints(4);
    const s = scheduler({ routeStrategy: 'SessionAffinity' });
    const pinned = s.schedule(request(words(1, 50), { sessionKey: 'alice' }), eps).endpoint;
    for (let i = 0; i < 5; i++)
      assert.equal(s.schedule(request(words(i + 10, 50), { sessionKey: 'alice' }), eps).endpoint, pinned);
    pinned.healthy = false;
    const moved = s.schedule(request(words(1, 50), { sessionKey: 'alice' }), eps).endpoint;
    assert.notEqual(moved, pinned);
    assert.equal(s.schedule(request(words(2, 50), { sessionKey: 'alice' }), eps).endpoint, moved);
  });

  it('precise prefix prefers the endpoint that already served the longest part of the prompt', () => {
    const eps = endpoints(4);
    const index = new PrefixIndex();
    const s = buildScheduler(routing({ routeStrategy: 'PrecisePrefix', schedulingPolicy: 'least-loaded' }), {
      loadBound: 1.25,
      prefixIndex: index,
    });
    const history = words(3, 400);
    const first = s.schedule(request(history), eps).endpoint;
    // The proxy records what it sends (Proxy.sendPrefix); the scorer only reads the index.
    index.record(first.url, request(history).blocks);
    first.inFlight = 1; // busier than the rest, but it holds the prefix
    assert.equal(s.schedule(request(`${history} and a follow-up question`), eps).endpoint, first);
  });

  it('the prefix index is bounded per endpoint and trims the least recently used prompts from their tails', () => {
    const index = new PrefixIndex(100);
    const old = prefixBlockHashes(words(1, 1000)).slice(0, 60);
    const fresh = prefixBlockHashes(words(2, 1000)).slice(0, 60);
    index.record('e', old);
    index.record('e', fresh);
    assert.equal(index.size('e'), 100);
    assert.equal(index.matchedBlocks('e', fresh), 60);
    assert.equal(index.matchedBlocks('e', old), 40);
  });

  it('filters out unready, unhealthy, ejected and already-tried endpoints, and says so when none is left', () => {
    const eps = endpoints(4);
    eps[0]!.ready = false;
    eps[1]!.healthy = false;
    eps[2]!.ejectedUntil = Date.now() + 60_000;
    const s = scheduler({ routeStrategy: 'LeastLoaded' });
    assert.equal(s.schedule(request('x'), eps).endpoint.name, 'pod-3');
    assert.throws(() => s.schedule(request('x', { exclude: new Set([eps[3]!]) }), eps), NoCandidateError);
  });

  it('routes prefill to prefill endpoints and decode (or plain requests) away from them', () => {
    const eps = [
      ...endpoints(2, 'prefill'),
      ...endpoints(2, 'decode').map(
        (e, i) => new EndpointState({ name: `d-${i}`, url: `http://d${i}`, role: e.role, ready: true }),
      ),
    ];
    const s = scheduler({ routeStrategy: 'LeastLoaded' });
    for (let i = 0; i < 4; i++) {
      assert.equal(s.schedule(request('x', { role: 'prefill' }), eps).endpoint.role, 'prefill');
      assert.equal(s.schedule(request('x', { role: 'decode' }), eps).endpoint.role, 'decode');
      assert.equal(s.schedule(request('x', { role: 'both' }), eps).endpoint.role, 'decode');
    }
  });
});

describe('outlier ejection', () => {
  it('ejects after consecutive failures, backs off on repeat, and a success resets the count', () => {
    const e = endpoints(1)[0]!;
    const policy = { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 10_000 };
    const now = 1_000_000;
    assert.equal(e.recordFailure(now, policy), false);
    e.recordSuccess();
    assert.equal(e.recordFailure(now, policy), false);
    assert.equal(e.recordFailure(now, policy), false);
    assert.equal(e.recordFailure(now, policy), true);
    assert.equal(e.ejectedUntil, now + 1000);
    assert.equal(e.available(now + 500), false);
    assert.equal(e.available(now + 1000), true);
    assert.equal(e.recordFailure(now + 2000, policy), true);
    assert.equal(e.ejectedUntil, now + 2000 + 2000);
  });
});
