import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as workflows from '../../src/workflows/index.ts';

describe('workflows are started by function reference', () => {
  it('each workflow function is named as the worker registers it (its export name)', () => {
    const exported = Object.entries(workflows);
    assert.equal(exported.length, 5);
    for (const [name, fn] of exported) assert.equal(fn.name, name);
  });
});
