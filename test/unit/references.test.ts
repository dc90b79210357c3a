import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  edgesTo,
  keyOf,
  referencesFrom,
  REFERENCE_EDGES,
  sameModel,
  servedModel,
} from '../../src/api/references.ts';
import { KINDS } from '../../src/api/kinds.ts';

describe('references between the kinds are declared once', () => {
  it('every edge joins two known kinds, and each kind is referred to by the edges that name it', () => {
    const kinds = KINDS.map((k) => k.kind);
    for (const e of REFERENCE_EDGES) {
      assert.ok(kinds.includes(e.from) && kinds.includes(e.to), `${e.from} -> ${e.to}`);
      assert.ok(edgesTo(e.to).includes(e));
    }
    assert.deepEqual(
      edgesTo('InferenceService').map((e) => e.from),
      ['InferenceGateway'],
    );
    assert.deepEqual(edgesTo('InferenceGateway'), []);
  });

  it('reads a gateway route by route, the service first and then its split, with the route model and path', () => {
    const refs = referencesFrom('InferenceGateway', {
      routes: [
        { model: 'a', inferenceServiceRef: 'svc-a', split: [{ inferenceServiceRef: 'canary' }] },
        { model: 'b', inferenceServiceRef: 'svc-b' },
      ],
    });
    assert.deepEqual(
      refs.map((r) => [r.path.join('.'), r.name, r.model]),
      [
        ['spec.routes.0.inferenceServiceRef', 'svc-a', 'a'],
        ['spec.routes.0.split.0.inferenceServiceRef', 'canary', 'a'],
        ['spec.routes.1.inferenceServiceRef', 'svc-b', 'b'],
      ],
    );
  });

  it('reads raw specs defensively and filters by target kind', () => {
    assert.deepEqual(referencesFrom('InferenceGateway', { routes: 'nope' }), []);
    assert.deepEqual(referencesFrom('InferenceService', undefined), []);
    const cache = { modelName: 'm', pddRef: 'p', sdRef: 's' };
    assert.deepEqual(
      referencesFrom('InferenceCache', cache, 'SpeculativeDecoding').map((r) => r.name),
      ['s'],
    );
    assert.deepEqual(
      referencesFrom('InferenceCache', cache).map((r) => r.edge.field),
      ['spec.pddRef', 'spec.sdRef'],
    );
  });

  it('the same-model rule compares the model a reference expects with the one the target serves', () => {
    const [sd] = referencesFrom('InferenceCache', { modelName: 'm', sdRef: 's' });
    assert.ok(sd);
    assert.equal(servedModel('SpeculativeDecoding', { targetModel: 'm', draftModel: 'd' }), 'm');
    assert.equal(sameModel(sd, { targetModel: 'm', draftModel: 'd' }), true);
    assert.equal(sameModel(sd, { targetModel: 'x', draftModel: 'm' }), false);
    assert.equal(keyOf({ kind: 'InferenceCache', namespace: 'ns', name: 's' }), 'InferenceCache/ns/s');
  });
});
