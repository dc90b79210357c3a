import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FINALIZER } from '../../src/api/index.ts';
import type { Resource } from '../../src/controller/dependency-index.ts';
import { fingerprintOf, resyncVerdict } from '../../src/controller/resync.ts';

const ID = 'InferenceService/ns/svc';

const svc = (generation: number, extra: Partial<Resource['metadata']> = {}): Resource => ({
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'svc', namespace: 'ns', generation, finalizers: [FINALIZER], ...extra },
  spec: { modelName: 'm' },
});

const signalled = (obj: Resource) => ({ fingerprint: fingerprintOf(obj), signalled: true });

describe('a resync re-delivers only what changed since the last delivery', () => {
  it('sends nothing for an object delivered at this generation whose workflow runs', () => {
    assert.equal(resyncVerdict(svc(3), signalled(svc(3)), ID, new Set([ID])), 'unchanged');
  });

  it('re-delivers a generation newer than the one delivered (a watch event lost)', () => {
    assert.equal(resyncVerdict(svc(4), signalled(svc(3)), ID, new Set([ID])), 'changed');
  });

  it('re-delivers what was never delivered (the delivery gave up after its attempts)', () => {
    assert.equal(resyncVerdict(svc(1), undefined, ID, new Set([ID])), 'changed');
  });

  it('restarts a workflow that is no longer running (terminated, or lost with its history)', () => {
    assert.equal(resyncVerdict(svc(3), signalled(svc(3)), ID, new Set(['InferenceCache/ns/svc'])), 'missing');
  });

  it('takes no workflow for missing when the running ones could not be listed', () => {
    assert.equal(resyncVerdict(svc(3), signalled(svc(3)), ID, undefined), 'unchanged');
  });

  it('does not look for the workflow of an InvalidSpec generation (none was started for it)', () => {
    const obj = svc(2);
    assert.equal(
      resyncVerdict(obj, { fingerprint: fingerprintOf(obj), signalled: false }, ID, new Set()),
      'unchanged',
    );
  });

  it('delivers an object without our finalizer, so the finalizer is added', () => {
    assert.equal(resyncVerdict(svc(3, { finalizers: [] }), signalled(svc(3)), ID, new Set([ID])), 'changed');
  });

  it('delivers the deletion once, and again only if the tearing-down workflow is gone', () => {
    const deleting = svc(3, { deletionTimestamp: '2026-12-02T14:00:00Z' });
    assert.equal(resyncVerdict(deleting, signalled(svc(3)), ID, new Set([ID])), 'changed');
    assert.equal(resyncVerdict(deleting, signalled(deleting), ID, new Set([ID])), 'unchanged');
    assert.equal(resyncVerdict(deleting, signalled(deleting), ID, new Set()), 'missing');
  });

  it('leaves alone an object being deleted that no longer holds our finalizer', () => {
    const released = svc(3, { deletionTimestamp: '2026-12-02T14:00:00Z', finalizers: ['other/finalizer'] });
    assert.equal(resyncVerdict(released, undefined, ID, new Set()), 'unchanged');
  });
});
