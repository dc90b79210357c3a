/**
 * Prompt-guard cost on adversarial text: each detector's worst time over the inputs crafted against it
 * (bench/prompt-guard-inputs.ts) at 1 MiB and 4 MiB, the normalisation, all six detectors together, and two
 * `regex:` patterns (a plain one and a quadratic one). Target: ≤ 50 ms per MiB for every detector.
 * Run: node --import tsx bench/prompt-guard.ts [--runs 5]
 */
import { parseArgs } from 'node:util';
import {
  PROMPT_GUARD_DETECTOR_NAMES,
  parseBlockedPattern,
  type BlockedPattern,
  type PromptGuardDetector,
} from '../src/api/index.ts';
import { DETECTORS, findBlocked, normalizeGuardText } from '../src/gateway/filters/prompt-guard.ts';
import { ADVERSARIAL, repeatTo } from './prompt-guard-inputs.ts';
import { fixed, summarize, table } from './stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const MiB = 1024 * 1024;
const SIZES = [1, 4];
const TARGET_MS_PER_MIB = 50;

/** Median milliseconds of RUNS calls after one warm-up call. */
function time(run: () => unknown): number {
  run();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    run();
    samples.push(performance.now() - started);
  }
  return summarize(samples).p50;
}

interface Worst {
  ms: number;
  unit: string;
  result: unknown;
}

function worst(units: readonly string[], size: number, run: (text: string) => unknown): Worst {
  let found: Worst = { ms: -1, unit: '', result: undefined };
  for (const unit of units) {
    const text = repeatTo(unit, size * MiB);
    const ms = time(() => run(text));
    if (ms > found.ms) found = { ms, unit, result: run(text) };
  }
  return found;
}

/** The unit as a JavaScript string literal, invisible and non-ASCII characters escaped. */
const show = (unit: string) =>
  JSON.stringify(unit).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const rows: (string | number)[][] = [];
let missed = 0;
/** `targeted`: the row is held to the target (each detector and the normalisation are; sums are not). */
function row(
  name: string,
  units: readonly string[],
  run: (text: string) => unknown,
  targeted: boolean,
): void {
  const results = SIZES.map((size) => worst(units, size, run));
  const perMiB = Math.max(...results.map((r, i) => r.ms / SIZES[i]!));
  if (targeted && perMiB > TARGET_MS_PER_MIB) missed++;
  rows.push([
    name,
    ...results.flatMap((r) => [fixed(r.ms), show(r.unit)]),
    fixed(perMiB),
    String(results.at(-1)!.result ?? 'no match'),
    targeted ? (perMiB <= TARGET_MS_PER_MIB ? 'met' : 'missed') : '-',
  ]);
}

for (const detector of PROMPT_GUARD_DETECTOR_NAMES) {
  row(detector, ADVERSARIAL[detector].units, DETECTORS[detector], true);
}
const allUnits = Object.values(ADVERSARIAL).flatMap((set) => set.units);
const obfuscated = ['１\u200b２\u202e３－', '\u0661\u0662\u2066.', 'ａ\ufeff@', 'Ｉ am\u200d '];
row('normalisation (non-ASCII)', obfuscated, (text) => (normalizeGuardText(text) ? 'normalised' : ''), true);
const allDetectors = PROMPT_GUARD_DETECTOR_NAMES.map((detector): BlockedPattern => ({
  kind: 'detector',
  detector: detector as PromptGuardDetector,
}));
row('findBlocked, all six', [...allUnits, ...obfuscated], (text) => findBlocked(allDetectors, text), false);
for (const entry of ['regex:(?i)project\\s+x', 'regex:[a.]+@x']) {
  const pattern = parseBlockedPattern(entry) as BlockedPattern;
  row(`findBlocked, ${entry}`, ['a', 'a.'], (text) => findBlocked([pattern], text), false);
}

console.log(
  table(
    [
      'detector',
      ...SIZES.flatMap((size) => [`${size} MiB ms`, `${size} MiB worst input`]),
      'worst ms/MiB',
      'result (4 MiB)',
      `≤ ${TARGET_MS_PER_MIB} ms/MiB`,
    ],
    rows,
  ),
);
console.log(
  `\n${RUNS} runs per input (median), worst input per size; target ≤ ${TARGET_MS_PER_MIB} ms per MiB for each ` +
    `detector and the normalisation: ${missed === 0 ? 'met' : `missed by ${missed} row(s)`}. A regex[0] result ` +
    'on the quadratic pattern is the time budget failing closed.',
);
