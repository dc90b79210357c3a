/**
 * The named prompt-guard detectors a `blockedPatterns` entry may use. The gateway implements each rule
 * exactly as documented here, in time linear in the text; anything else must be a `regex:` pattern. Every
 * pattern sees the request's texts normalised: format characters (zero-width, bidi controls) removed, NFKC,
 * Unicode decimal digits written as ASCII digits, dashes as "-" and typographic apostrophes as "'".
 */
export const PROMPT_GUARD_DETECTORS = {
  SSN: 'US Social Security number: 3-2-4 digits separated by "-", "." or spaces, or 9 digits standing alone as one word (area not 000, 666 or 9xx, group not 00, serial not 0000).',
  Email: 'An e-mail address: local part, "@", and a domain with at least one dot.',
  Phone:
    'A phone number: optional "+" and country code, then 10 to 15 digits in groups separated by spaces, dots, dashes or parentheses.',
  CreditCard:
    'A payment card number: 13 to 19 digits, optionally grouped by spaces or dashes, passing the Luhn check.',
  IPAddress: 'An IPv4 address in dotted-quad form (each octet 0-255) or a full or compressed IPv6 address.',
  Name: 'A personal name by heuristics: a self-introduction ("my name is", "I am", "this is", "name:") followed by a capitalised word, or a title (Mr, Mrs, Ms, Dr, Prof) followed by a capitalised word.',
} as const;

export type PromptGuardDetector = keyof typeof PROMPT_GUARD_DETECTORS;
export const PROMPT_GUARD_DETECTOR_NAMES = Object.keys(PROMPT_GUARD_DETECTORS) as PromptGuardDetector[];
const REGEX_PATTERN_PREFIX = 'regex:';

export type BlockedPattern =
  { kind: 'detector'; detector: PromptGuardDetector } | { kind: 'regex'; source: string; regex: RegExp };

/** A leading inline flag group as RE2 and PCRE write it, e.g. `(?i)`; JavaScript takes flags separately. */
const INLINE_FLAGS = /^\(\?([ims]+)\)/;

/**
 * Parses one `blockedPatterns` entry, or returns an error message that says what is wrong with it.
 * `regex:` expressions are JavaScript regular expressions (Unicode mode); a leading `(?i)`, `(?m)` or `(?s)`
 * group is accepted and becomes the matching flag. Unlike the detectors they may backtrack: the gateway runs
 * them on bounded windows of long texts and within a time budget (src/gateway/filters/prompt-guard.ts).
 */
export function parseBlockedPattern(entry: string): BlockedPattern | { error: string } {
  if (entry.startsWith(REGEX_PATTERN_PREFIX)) {
    let source = entry.slice(REGEX_PATTERN_PREFIX.length);
    let flags = 'u';
    const inline = INLINE_FLAGS.exec(source);
    if (inline) {
      flags += [...new Set(inline[1])].join('');
      source = source.slice(inline[0].length);
    }
    if (source.length === 0) return { error: 'the "regex:" prefix must be followed by a regular expression' };
    try {
      return { kind: 'regex', source, regex: new RegExp(source, flags) };
    } catch (err) {
      return { error: `regular expression does not compile: ${(err as Error).message}` };
    }
  }
  if ((PROMPT_GUARD_DETECTOR_NAMES as string[]).includes(entry)) {
    return { kind: 'detector', detector: entry as PromptGuardDetector };
  }
  return {
    error: `unknown detector "${entry}": use one of ${PROMPT_GUARD_DETECTOR_NAMES.join(', ')} or "regex:<expression>"`,
  };
}
