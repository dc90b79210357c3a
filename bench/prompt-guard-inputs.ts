/**
 * Adversarial texts for the prompt-guard detectors, shared by bench/prompt-guard.ts and the unit test: each one is
 * a unit repeated to the wanted size, crafted against one detector's rule (the runs its regex must not rescan),
 * and none of them holds a positive. `planted` is a positive the detector must still find after the run.
 */
import type { PromptGuardDetector } from '../src/api/index.ts';

export interface AdversarialSet {
  units: string[];
  planted: string;
}

export const ADVERSARIAL: Record<PromptGuardDetector, AdversarialSet> = {
  SSN: {
    units: ['1', '123-45-', '000000000 ', '12.', '123 45 ', '1-', '1 '],
    planted: 'ssn 123-45-6789',
  },
  Email: {
    units: ['a', 'a.', 'a@', 'a@a-', '%+-.', 'a@a@.', '@a'],
    planted: 'mail jane.doe@example.org',
  },
  Phone: {
    units: ['1', '(', '(1) ', '1((', '((((1', '+(', '1111111111111111 ', '1- '],
    planted: 'call +1 (415) 555-2671',
  },
  CreditCard: {
    units: ['1', '1 ', '1-', '4111 ', '1 -'],
    planted: 'card 4111 1111 1111 1111',
  },
  IPAddress: {
    units: ['1.', '255.', '1.1.1 ', ':', 'a:', 'ffff:', '1', 'a::'],
    planted: 'host 10.0.0.7',
  },
  Name: {
    units: ['I am ', 'name: ', 'Mr a ', 'my name is a ', ' ', 'Dr.  x', 'this is I '],
    planted: 'Hello, my name is Alice',
  },
};

/** `unit` repeated as often as it fits in `chars` characters (whole units: a cut one could be a positive). */
export function repeatTo(unit: string, chars: number): string {
  return unit.repeat(Math.floor(chars / unit.length));
}

/** The adversarial run, a separator no rule joins to its neighbours, then the planted positive. */
export function withPlanted(unit: string, chars: number, planted: string): string {
  return `${repeatTo(unit, chars - planted.length - 2)}\n\n${planted}`;
}
