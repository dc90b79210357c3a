import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointState } from '../../src/gateway/endpoints/endpoint-state.ts';
import { DEFAULT_ROUTING, type RoutingSettings } from '../../src/gateway/routes/route-table.ts';
import type { SchedulingRequest } from '../../src/gateway/scheduling/framework.ts';
import { overloaded, RingCache } from '../../src/gateway/scheduling/hash-ring.ts';
import { PrefixPlacement } from '../../src/gateway/scheduling/placement.ts';
import { hashString } from '../../src/gateway/scheduling/prefix-blocks.ts';
import { PrefixIndex } from '../../src/gateway/scheduling/prefix-index.ts';
import { buildScheduler } from '../../src/gateway/scheduling/profiles.ts';

const sims = (...inFlight: number[]) =>
  inFlight.map((n, i) => {
    const e = new EndpointState({ name: `sim-${i}`, url: `http://sim-${i}`, role: 'both', ready: true });
    e.inFlight = n;
    return e;
  });
const request = (prefixKey: number, extra: Partial<SchedulingRequest> = {}): SchedulingRequest => ({
  model: 'm',
  blocks: [prefixKey],
  contextBlocks: 0,
  prefixKey,
  role: 'both',
  now: 0,
  ...extra,
});
const scheduler = (overrides: Partial<RoutingSettings>) =>
  buildScheduler({ ...DEFAULT_ROUTING, ...overrides }, { loadBound: 1.25, prefixIndex: new PrefixIndex() });
/** The owner of `key` on a ring of four, by name: the first endpoint the ring walk reaches. */
const ownerOf = (key: number) =>
  new RingCache()
    .for(sims(0, 0, 0, 0))
    .walk(key)
    .next().value!;
/** A key whose ring owner is `name`. */
const keyOwnedBy = (name: string, from = 1) => {
  let k = from;
  while (ownerOf(k) !== name) k++;
  return k;
};

describe('the hash ring', () => {
  it('gives each of sim-0..sim-3 a fair share of prefixes and sessions', () => {
    const counts = new Map<string, number>();
    for (let k = 0; k < 4000; k++) {
      const owner = ownerOf(hashString(`prefix-${k}`));
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    assert.equal(counts.size, 4);
    for (const [name, n] of counts) assert.ok(n > 800 && n < 1200, `${name} owns ${n} of 4000`);
    const sessions = new Set(Array.from({ length: 48 }, (_, u) => ownerOf(hashString(`u${u}`))));
    assert.equal(sessions.size, 4);
  });
});

describe('the imbalance rule', () => {
  it('keeps affinity on small integer loads', () => {
    // The old bounded-load capacity ceil(1.25 × 2 / 4) = 1 spilled the second concurrent request.
    assert.equal(overloaded(sims(1, 0, 0, 0)[0]!, sims(1, 0, 0, 0), 1.25), false);
    const eps = sims(3, 0, 0, 0);
    assert.equal(overloaded(eps[0]!, eps, 1.25), false);
  });

  it('leaves affinity when the owner is 4 or more ahead of the least loaded and over 1.25× the mean', () => {
    const spill = sims(4, 0, 0, 0);
    assert.equal(overloaded(spill[0]!, spill, 1.25), true);
    const far = sims(12, 8, 8, 8); // 4 ahead, 13 > 1.25 × 37 / 4 = 11.6
    assert.equal(overloaded(far[0]!, far, 1.25), true);
  });

  it('stays when the imbalance is large in only one of the two terms', () => {
    const absoluteOnly = sims(24, 20, 20, 20); // 4 ahead, but 25 ≤ 1.25 × 85 / 4 = 26.6
    assert.equal(overloaded(absoluteOnly[0]!, absoluteOnly, 1.25), false);
    const relativeOnly = sims(3, 0, 0, 0); // 4 > 1.25 × 4 / 4, but only 3 ahead
    assert.equal(overloaded(relativeOnly[0]!, relativeOnly, 1.25), false);
  });
});

describe('PrefixHash with gpu-load-aware', () => {
  const key = 12345;

  it('load scorers cannot outvote the owner below the bound', () => {
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'gpu-load-aware' });
    const idle = sims(0, 0, 0, 0);
    const owner = s.schedule(request(key), idle).endpoint.name;
    const eps = sims(0, 0, 0, 0);
    const o = eps.find((e) => e.name === owner)!;
    o.inFlight = 3;
    o.kvUsage = 0.95;
    o.waiting = 12;
    assert.equal(s.schedule(request(key), eps).endpoint.name, owner);
  });

  it('a spill goes to an endpoint that already holds the prefix', () => {
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const eps = sims(0, 0, 0, 0);
    const byName = new Map(eps.map((e) => [e.name, e]));
    const [owner, second, third] = [...new RingCache().for(eps).walk(key)].map((n) => byName.get(n)!);
    // Owner and the next on the ring both overloaded: the spill goes to the third.
    owner!.inFlight = 8;
    second!.inFlight = 8;
    assert.equal(s.schedule(request(key), eps).endpoint, third);
    // The next on the ring is free again, but the spill returns to the third, which holds the prefix.
    second!.inFlight = 0;
    third!.inFlight = 2;
    assert.equal(s.schedule(request(key), eps).endpoint, third);
    // The owner is no longer overloaded, but it never received the prefix: it stays where it is held.
    owner!.inFlight = 2;
    assert.equal(s.schedule(request(key), eps).endpoint, third);
  });

  it('a prefix whose every holder is overloaded spills to the endpoint with the least recent traffic', () => {
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const eps = sims(0, 0, 0, 0);
    const [a, b] = eps;
    // Another prefix has sent three requests to sim-1 lately.
    const busy = keyOwnedBy('sim-1');
    for (let i = 0; i < 3; i++) assert.equal(s.schedule(request(busy), eps).endpoint, b);
    const key = keyOwnedBy('sim-0', busy + 1);
    assert.equal(s.schedule(request(key), eps).endpoint, a);
    a!.inFlight = 6; // 6 ahead of the least, 7 > 1.25 × 7 / 4: overloaded
    const spill = s.schedule(request(key), eps).endpoint;
    assert.ok(spill !== a && spill !== b, `spilled to ${spill.name}, not to the quiet sim-2 or sim-3`);
    a!.inFlight = 0; // the first holder is free again, and first in ring order
    assert.equal(s.schedule(request(key), eps).endpoint, a);
  });
});

describe('placement of new prefixes', () => {
  it('skips the endpoint that got clearly more requests lately, then follows the ring again when all are quiet', () => {
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const eps = sims(0, 0, 0, 0);
    const hot = keyOwnedBy('sim-0');
    for (let i = 0; i < 5; i++) assert.equal(s.schedule(request(hot), eps).endpoint.name, 'sim-0');
    // A new conversation the ring gives to sim-0 goes elsewhere: sim-0 has 5 recent requests, the others 0.
    const fresh = keyOwnedBy('sim-0', hot + 1);
    assert.notEqual(s.schedule(request(fresh), eps).endpoint.name, 'sim-0');
    // Ten minutes later (half-life 20 s) every endpoint's recent load is below one request: the ring decides.
    const later = keyOwnedBy('sim-0', fresh + 1);
    assert.equal(s.schedule(request(later, { now: 600_000 }), eps).endpoint.name, 'sim-0');
  });

  it('spreads 16 new conversations 4 per endpoint where the ring alone gives one endpoint more', () => {
    const keys = Array.from({ length: 16 }, (_, u) => hashString(`conversation-${u}`));
    const ringCounts = new Map<string, number>();
    for (const k of keys) ringCounts.set(ownerOf(k), (ringCounts.get(ownerOf(k)) ?? 0) + 1);
    assert.ok(Math.max(...ringCounts.values()) > 4, 'these keys are uneven on the ring');
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const eps = sims(0, 0, 0, 0);
    const placed = new Map<string, number>();
    for (const k of keys) {
      const name = s.schedule(request(k), eps).endpoint.name;
      placed.set(name, (placed.get(name) ?? 0) + 1);
    }
    assert.deepEqual([...placed.values()], [4, 4, 4, 4]);
  });

  it('spreads 8 new prefixes 2 per endpoint when they arrive one after another', () => {
    // A second apart, an endpoint's one recent request has decayed to 0.97 by the next arrival: it still
    // counts as busier than an endpoint that got none.
    const keys = Array.from({ length: 8 }, (_, u) => hashString(`group-${u}`));
    const ringCounts = new Map<string, number>();
    for (const k of keys) ringCounts.set(ownerOf(k), (ringCounts.get(ownerOf(k)) ?? 0) + 1);
    assert.ok(Math.max(...ringCounts.values()) > 2, 'these keys are uneven on the ring');
    const s = scheduler({ routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' });
    const eps = sims(0, 0, 0, 0);
    const placed = new Map<string, number>();
    keys.forEach((k, i) => {
      const name = s.schedule(request(k, { now: i * 1000 }), eps).endpoint.name;
      placed.set(name, (placed.get(name) ?? 0) + 1);
    });
    assert.deepEqual([...placed.values()], [2, 2, 2, 2]);
  });

  it('session-affinity and prefix-hash share one placement and count a request once', () => {
    const placement = new PrefixPlacement();
    const s = buildScheduler(
      { ...DEFAULT_ROUTING, routeStrategy: 'SessionAffinity' },
      { loadBound: 1.25, prefixIndex: new PrefixIndex(), placement },
    );
    const eps = sims(0, 0, 0, 0);
    const first = s.schedule(request(99, { sessionKey: 'alice' }), eps).endpoint.name;
    assert.equal(placement.recentLoad(first, 0), 1);
    assert.deepEqual([...placement.holdersOf(99)!], [first]);
  });
});

describe('placement by the prompt an endpoint was sent', () => {
  const setup = () => {
    const prefixIndex = new PrefixIndex();
    const s = buildScheduler(
      { ...DEFAULT_ROUTING, routeStrategy: 'PrefixHash', schedulingPolicy: 'round-robin' },
      { loadBound: 1.25, prefixIndex },
    );
    return { prefixIndex, s };
  };
  // A tenant's system prompt is blocks 1-3; a new conversation under it adds its own blocks.
  const tenantPrompt = [1, 2, 3];

  it('sends a new conversation where its tenant prompt was sent, not where the ring puts its key', () => {
    const { prefixIndex, s } = setup();
    prefixIndex.record('http://sim-2', tenantPrompt);
    const key = keyOwnedBy('sim-0');
    const eps = sims(0, 0, 0, 0);
    assert.equal(s.schedule(request(key, { blocks: [...tenantPrompt, 40, 41] }), eps).endpoint.name, 'sim-2');
  });

  it('follows the ring when the shared part is under 30 % of the prompt', () => {
    const { prefixIndex, s } = setup();
    prefixIndex.record('http://sim-2', tenantPrompt);
    const key = keyOwnedBy('sim-0');
    const blocks = [...tenantPrompt, ...Array.from({ length: 8 }, (_, i) => 100 + i)]; // 3 of 11
    assert.equal(s.schedule(request(key, { blocks }), sims(0, 0, 0, 0)).endpoint.name, 'sim-0');
  });

  it('does not send it to an overloaded endpoint that holds the prompt', () => {
    const { prefixIndex, s } = setup();
    prefixIndex.record('http://sim-2', tenantPrompt);
    const key = keyOwnedBy('sim-0');
    const eps = sims(0, 0, 6, 0); // sim-2 is 6 ahead of the least loaded and over 1.25x the mean
    assert.equal(s.schedule(request(key, { blocks: [...tenantPrompt, 40] }), eps).endpoint.name, 'sim-0');
  });

  it('keeps a prefix that has a holder on its holder', () => {
    const { prefixIndex, s } = setup();
    const key = keyOwnedBy('sim-0');
    const eps = sims(0, 0, 0, 0);
    assert.equal(s.schedule(request(key, { blocks: [7, 8] }), eps).endpoint.name, 'sim-0');
    prefixIndex.record('http://sim-2', [7, 8, 9]);
    assert.equal(s.schedule(request(key, { blocks: [7, 8, 9] }), eps).endpoint.name, 'sim-0');
  });
});

describe('SessionAffinity', () => {
  it('places new sessions under one shared prompt where the prompt is owned', () => {
    const s = scheduler({ routeStrategy: 'SessionAffinity' });
    const eps = sims(0, 0, 0, 0);
    const names = new Set(
      Array.from(
        { length: 8 },
        (_, q) => s.schedule(request(777, { sessionKey: `q${q}` }), eps).endpoint.name,
      ),
    );
    assert.deepEqual([...names], [ownerOf(777)]);
  });
});
