import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decide,
  effectivePolicy,
  emptyCacheLoopState,
  recordAction,
  recordPoll,
  recordVerification,
  type CachePolicy,
} from '../../src/workflows/cache-policy.ts';
import type { ReplicaSample } from '../../src/activities/vllm/cache-actions.ts';

const policy: CachePolicy = {
  thresholdHitRate: 0.8,
  evictionThreshold: 0.9,
  sustainedPolls: 3,
  cooldownMs: 60_000,
  windowMs: 30_000,
  hotShare: 1.5,
};
const sample = (name: string, kvUsage: number, hits: number, queries: number): ReplicaSample => ({
  name,
  url: `http://${name}`,
  ok: true,
  kvUsage,
  hits,
  queries,
});

describe('cache policy', () => {
  it('computes windowed hit rates from counter increases, per replica and for the pool', () => {
    const state = emptyCacheLoopState();
    recordPoll(state, [sample('a', 0.1, 100, 1000), sample('b', 0.1, 0, 0)], 0, policy);
    const view = recordPoll(
      state,
      [sample('a', 0.1, 900, 2000), sample('b', 0.1, 100, 1000)],
      10_000,
      policy,
    );
    assert.equal(view.replicas.find((r) => r.name === 'a')!.hitRate, 0.8);
    assert.equal(view.replicas.find((r) => r.name === 'b')!.hitRate, 0.1);
    assert.equal(view.poolHitRate, 0.45);
    // Past the window the old increases no longer count.
    const later = recordPoll(
      state,
      [sample('a', 0.1, 900, 2000), sample('b', 0.1, 100, 1000)],
      45_000,
      policy,
    );
    assert.equal(later.poolHitRate, undefined);
  });

  it('treats a counter that went down as a restarted replica, not a negative rate', () => {
    const state = emptyCacheLoopState();
    recordPoll(state, [sample('a', 0, 5000, 10_000)], 0, policy);
    const view = recordPoll(state, [sample('a', 0, 30, 100)], 10_000, policy);
    assert.equal(view.replicas[0]!.hitRate, 0.3);
    assert.equal(state.replicas.a!.resets, 1);
  });

  it('evicts once the KV usage stayed at or above the threshold for the sustained polls, then cools down', () => {
    const state = emptyCacheLoopState();
    let now = 0;
    const poll = (usage: number) => {
      now += 10_000;
      const view = recordPoll(state, [sample('a', usage, 0, 0), sample('b', 0.2, 0, 0)], now, policy);
      return decide(state, view, now, policy);
    };
    assert.equal(poll(0.95), undefined);
    assert.equal(poll(0.95), undefined);
    const action = poll(0.95);
    assert.equal(action?.action, 'Evict');
    assert.equal(action?.target, 'a');
    assert.match(action!.reason, /95\.0%.*90\.0%.*3 polls/);
    recordAction(state, action!, now);
    // Steady load: still full, but the cooldown and the reset hysteresis keep it from flapping.
    for (let i = 0; i < 5; i++) assert.equal(poll(0.95), undefined);
    assert.equal(poll(0.95)?.action, 'Evict');
    assert.equal(state.evictions, 1);
  });

  it('does not evict when usage dips below the threshold between polls (hysteresis)', () => {
    const state = emptyCacheLoopState();
    const usages = [0.95, 0.95, 0.5, 0.95, 0.95, 0.5];
    usages.forEach((u, i) => {
      const view = recordPoll(state, [sample('a', u, 0, 0)], i * 10_000, policy);
      assert.equal(decide(state, view, i * 10_000, policy), undefined);
    });
  });

  it('transfers from the hot replica to the coolest when the pool hit rate stays low under skew', () => {
    const state = emptyCacheLoopState();
    let hitsA = 0;
    let queriesA = 0;
    let queriesB = 0;
    let action;
    for (let i = 0; i <= 3; i++) {
      const view = recordPoll(
        state,
        [sample('a', 0.5, hitsA, queriesA), sample('b', 0.1, 0, queriesB), sample('c', 0.1, 0, 0)],
        i * 5_000,
        policy,
      );
      action = decide(state, view, i * 5_000, policy);
      hitsA += 300;
      queriesA += 1000;
      queriesB += 100;
    }
    assert.equal(action?.action, 'Transfer');
    assert.equal(action?.target, 'a');
    assert.equal(action?.to, 'c');
    assert.match(action!.reason, /pool hit rate 27\.3% stayed below thresholdHitRate 80\.0%/);
  });

  it('no transfer while the load is even, however low the hit rate', () => {
    const state = emptyCacheLoopState();
    for (let i = 0; i < 6; i++) {
      const view = recordPoll(
        state,
        [sample('a', 0.3, 0, i * 1000), sample('b', 0.3, 0, i * 1000)],
        i * 5_000,
        policy,
      );
      assert.equal(decide(state, view, i * 5_000, policy), undefined);
    }
  });

  it('a transfer starts a fresh window and is verified on the polls after it', () => {
    const state = emptyCacheLoopState();
    recordPoll(state, [sample('a', 0.1, 0, 0), sample('b', 0.1, 0, 0)], 0, policy);
    const before = recordPoll(state, [sample('a', 0.1, 100, 1000), sample('b', 0.1, 0, 100)], 5_000, policy);
    assert.ok(Math.abs(before.poolHitRate! - 100 / 1100) < 1e-9);
    recordAction(
      state,
      { action: 'Transfer', target: 'a', to: 'b', reason: 'r', time: '', manual: false },
      5_000,
      before,
      2,
    );
    assert.equal(state.transfers, 1);
    // The polls after: 60% then 80% of this poll's queries hit.
    const first = recordPoll(
      state,
      [sample('a', 0.1, 400, 1500), sample('b', 0.1, 200, 600)],
      10_000,
      policy,
    );
    assert.equal(first.pollHitRate, 0.5);
    assert.equal(first.poolHitRate, 0.5, 'the window holds only what followed the transfer');
    assert.equal(recordVerification(state, first), undefined);
    const second = recordPoll(
      state,
      [sample('a', 0.1, 800, 2000), sample('b', 0.1, 600, 1100)],
      15_000,
      policy,
    );
    const verified = recordVerification(state, second);
    assert.equal(verified?.improved, true);
    assert.equal(verified?.after, 0.65);
    assert.match(
      state.lastAction!.effect!,
      /pool hit rate 9\.1% before, 65\.0% over the 2 polls after: rose/,
    );
    assert.equal(state.verification, undefined);
  });

  it('a setPolicy override replaces the spec thresholds until it expires', () => {
    const override = { thresholdHitRate: 0.2, cooldownMs: 1000, expiresAt: 50_000 };
    assert.equal(effectivePolicy(policy, override, 10_000).thresholdHitRate, 0.2);
    assert.equal(effectivePolicy(policy, override, 10_000).cooldownMs, 1000);
    assert.equal(effectivePolicy(policy, override, 10_000).evictionThreshold, policy.evictionThreshold);
    assert.deepEqual(effectivePolicy(policy, override, 50_000), policy);
  });

  it('compares prefill and decode replicas only with their own role', () => {
    const withRole = (r: ReplicaSample, role: string): ReplicaSample => ({ ...r, role });
    // One prefill and one decode replica: the prefill takes every prompt token, but has no peer to give to.
    const pd = emptyCacheLoopState();
    for (let i = 0; i <= 4; i++) {
      const view = recordPoll(
        pd,
        [
          withRole(sample('p0', 0.1, 0, i * 1000), 'prefill'),
          withRole(sample('d0', 0.1, 0, i * 10), 'decode'),
        ],
        i * 5_000,
        policy,
      );
      assert.equal(decide(pd, view, i * 5_000, policy), undefined);
    }
    // Two prefill replicas, one hot, and a decode replica with the most queries of all: prefill to prefill.
    const state = emptyCacheLoopState();
    let action;
    for (let i = 0; i <= 3; i++) {
      const view = recordPoll(
        state,
        [
          withRole(sample('p0', 0.1, 0, i * 1000), 'prefill'),
          withRole(sample('p1', 0.1, 0, i * 100), 'prefill'),
          withRole(sample('d0', 0.1, 0, i * 5000), 'decode'),
        ],
        i * 5_000,
        policy,
      );
      action = decide(state, view, i * 5_000, policy);
    }
    assert.equal(action?.action, 'Transfer');
    assert.equal(action?.target, 'p0');
    assert.equal(action?.to, 'p1');
    // The decode replica's misses (its KV cache comes from prefill) are not the pool's.
    const view = recordPoll(
      state,
      [
        withRole(sample('p0', 0.1, 900, 4000), 'prefill'),
        withRole(sample('p1', 0.1, 0, 400), 'prefill'),
        withRole(sample('d0', 0.1, 0, 20000), 'decode'),
      ],
      20_000,
      policy,
    );
    assert.equal(view.pollHitRate, 900 / 1100);
    assert.match(action!.reason, /p0 took 3000 of 3300 queried tokens of the prefill replicas/);
  });
});
