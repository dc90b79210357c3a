import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROMPT_GUARD_DETECTOR_NAMES, type BlockedPattern } from '../../src/api/index.ts';
import { DETECTORS, findBlocked } from '../../src/gateway/filters/prompt-guard.ts';
import { ADVERSARIAL, repeatTo, withPlanted } from '../../bench/prompt-guard-inputs.ts';

/** 4 MiB, the gateway's default body limit. bench/prompt-guard.ts holds the real target (≤ 50 ms per MiB). */
const CHARS = 4 * 1024 * 1024;
/** Generous, for a shared 2-core machine; the quadratic Email regex this replaced took hours on 4 MiB. */
const BOUND_MS = 3000;

function timed<T>(run: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = run();
  return { value, ms: performance.now() - started };
}

describe('prompt guard detectors are linear on 4 MiB of adversarial text', () => {
  for (const detector of PROMPT_GUARD_DETECTOR_NAMES) {
    const { units, planted } = ADVERSARIAL[detector];
    for (const unit of units) {
      it(`${detector} on ${JSON.stringify(unit)} repeated: no match in bounded time, then finds the planted one`, () => {
        const clean = timed(() => DETECTORS[detector](repeatTo(unit, CHARS)));
        assert.equal(clean.value, false, 'the adversarial text alone must not match');
        assert.ok(clean.ms < BOUND_MS, `took ${clean.ms.toFixed(0)} ms`);
        const dirty = timed(() => DETECTORS[detector](withPlanted(unit, CHARS, planted)));
        assert.equal(dirty.value, true, `missed the planted ${JSON.stringify(planted)}`);
        assert.ok(dirty.ms < BOUND_MS, `took ${dirty.ms.toFixed(0)} ms`);
      });
    }
  }

  it('the whole guard (normalisation and all six detectors) on 4 MiB of obfuscated digits finds a fullwidth SSN', () => {
    const patterns = PROMPT_GUARD_DETECTOR_NAMES.map((detector): BlockedPattern => ({
      kind: 'detector',
      detector,
    }));
    const text = withPlanted('١\u200b٢\u202e-', CHARS, 'ssn １２３\u200b-４５-６７８９');
    const result = timed(() => findBlocked(patterns, text));
    assert.equal(result.value, 'SSN');
    assert.ok(result.ms < BOUND_MS, `took ${result.ms.toFixed(0)} ms`);
  });
});
