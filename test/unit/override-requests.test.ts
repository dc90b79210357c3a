/**
 * The InferenceCache overrides' request checks (src/workflows/override-requests.ts), written by hand since
 * the workflows import no zod (issue 16: zod is evaluated again for every cached workflow). The answers are
 * those of the zod schemas they replace, checked case by case against them when they were replaced; only the
 * messages for a non-string reason and a non-boolean clear are new (zod's said "Invalid input: ...").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyRequest, validEvict, validTransfer } from '../../src/workflows/override-requests.ts';
import type { SetPolicyRequest } from '../../src/workflows/messages.ts';

const NOW = 1_000;
const policy = (request: unknown) => parsePolicyRequest(request as SetPolicyRequest, NOW);
const rejects = (request: unknown, message: string) =>
  assert.throws(() => policy(request), { message: `setPolicy: ${message}` });

describe('setPolicy requests', () => {
  it('sets what is given, for an hour unless expiresIn says otherwise', () => {
    assert.deepEqual(policy({ thresholdHitRate: 0.5 }), {
      thresholdHitRate: 0.5,
      expiresAt: NOW + 3_600_000,
    });
    assert.deepEqual(
      policy({
        thresholdHitRate: 0,
        evictionThreshold: 1,
        sustainedPolls: 2,
        cooldown: '1h30m',
        expiresIn: '2h',
        reason: 'r',
        clear: false,
      }),
      {
        thresholdHitRate: 0,
        evictionThreshold: 1,
        sustainedPolls: 2,
        cooldownMs: 5_400_000,
        expiresAt: NOW + 7_200_000,
        reason: 'r',
      },
    );
    assert.equal(policy({ clear: true }), undefined);
  });

  it('names the first field that is wrong and what it got', () => {
    rejects({ thresholdHitRate: 2 }, 'thresholdHitRate must be a number between 0 and 1, not 2');
    rejects({ thresholdHitRate: '0.5' }, 'thresholdHitRate must be a number between 0 and 1, not "0.5"');
    rejects({ thresholdHitRate: NaN }, 'thresholdHitRate must be a number between 0 and 1, not null');
    rejects(
      { thresholdHitRate: 2, evictionThreshold: 3 },
      'thresholdHitRate must be a number between 0 and 1, not 2',
    );
    rejects({ sustainedPolls: 0 }, 'sustainedPolls must be a positive integer, not 0');
    rejects({ sustainedPolls: 1.5 }, 'sustainedPolls must be a positive integer, not 1.5');
    rejects({ cooldown: 30 }, 'cooldown must be a duration such as 30s, 5m or 1h');
    rejects({ cooldown: 'soon' }, 'cooldown must be a duration such as 30s, 5m or 1h, not "soon"');
    rejects({ cooldown: '1m', expiresIn: '0s' }, 'expiresIn must be positive');
    rejects({ cooldown: '1m', reason: 5 }, 'reason must be a string, not 5');
    rejects({ cooldown: '1m', clear: 'yes' }, 'clear must be true or false, not "yes"');
  });

  it('needs something to set', () => {
    const nothing =
      'needs at least one of thresholdHitRate, evictionThreshold, sustainedPolls, cooldown (or clear: true)';
    rejects({}, nothing);
    rejects({ expiresIn: '5m', reason: 'why' }, nothing);
    assert.throws(() => policy(null), { message: 'setPolicy takes an object' });
  });
});

describe('forceEvict and forceTransfer requests', () => {
  it('need the replica names as non-empty strings and an optional string reason; more fields pass', () => {
    assert.equal(validEvict({ replica: 'a' }), true);
    assert.equal(validEvict({ replica: 'a', reason: 'r', extra: 1 } as never), true);
    assert.equal(validEvict({ replica: '' }), false);
    assert.equal(validEvict({ replica: 'a', reason: 3 } as never), false);
    for (const bad of [null, 'x', []]) assert.equal(validEvict(bad as never), false);
    assert.equal(validTransfer({ from: 'a', to: 'b' }), true);
    assert.equal(validTransfer({ from: 'a' } as never), false);
    assert.equal(validTransfer({ from: 'a', to: '', reason: 'r' }), false);
    assert.equal(validTransfer({ from: 'a', to: 'b', reason: null } as never), false);
  });
});
