import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConditionTrue, setCondition, type Condition } from '../../src/api/index.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');
const t2 = new Date('2026-01-01T00:10:00Z');

describe('setCondition keeps metav1.Condition semantics', () => {
  it('adds a new condition with the current time', () => {
    const out = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Progressing', observedGeneration: 1 },
      t0,
    );
    assert.deepEqual(out, [
      {
        type: 'Ready',
        status: 'False',
        reason: 'Progressing',
        message: '',
        lastTransitionTime: t0.toISOString(),
        observedGeneration: 1,
      },
    ]);
  });

  it('keeps lastTransitionTime when the status does not flip, but takes the new reason and message', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Progressing' }, t0);
    const second = setCondition(
      first,
      {
        type: 'Ready',
        status: 'False',
        reason: 'AwaitingRollout',
        message: '1/2 ready',
        observedGeneration: 2,
      },
      t1,
    );
    assert.equal(second[0]?.lastTransitionTime, t0.toISOString());
    assert.equal(second[0]?.reason, 'AwaitingRollout');
    assert.equal(second[0]?.message, '1/2 ready');
    assert.equal(second[0]?.observedGeneration, 2);
  });

  it('moves lastTransitionTime when the status flips', () => {
    let conditions: Condition[] = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Progressing' },
      t0,
    );
    conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'RolloutComplete' }, t1);
    assert.equal(conditions[0]?.lastTransitionTime, t1.toISOString());
    assert.ok(isConditionTrue(conditions, 'Ready'));
    conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'RolloutComplete' }, t2);
    assert.equal(conditions[0]?.lastTransitionTime, t1.toISOString());
  });

  it('leaves other conditions and their order alone', () => {
    let conditions = setCondition([], { type: 'Ready', status: 'True', reason: 'Ok' }, t0);
    conditions = setCondition(conditions, { type: 'Degraded', status: 'False', reason: 'Ok' }, t0);
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'Broken' }, t1);
    assert.deepEqual(
      conditions.map((c) => c.type),
      ['Ready', 'Degraded'],
    );
    assert.equal(conditions[1]?.lastTransitionTime, t0.toISOString());
  });

  it('rejects a reason that is not CamelCase', () => {
    assert.throws(
      () => setCondition([], { type: 'Ready', status: 'True', reason: 'rollout complete' }, t0),
      /CamelCase/,
    );
  });
});
