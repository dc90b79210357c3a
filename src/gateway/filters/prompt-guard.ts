import { isIPv6 } from 'node:net';
import type { BlockedPattern, PromptGuardDetector } from '../../api/index.ts';

/** Returns true when `text` contains what the detector looks for. Rules: PROMPT_GUARD_DETECTORS in src/api. */
type Detector = (text: string) => boolean;

const SSN = /(?<!\d)(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}(?!\d)/;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/;
const PHONE_CANDIDATE = /(?<![\w.+-])\+?[\d(][\d\s().-]{8,24}\d(?![\w])/g;
const IPV4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![\\d.])${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}(?![\\d.]*\\d)`);
const IPV4_ONLY = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const IPV6_CANDIDATE = /(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])/g;
const CARD_CANDIDATE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
const NAME_INTRO = /(?:\b[Mm]y name is|\bI am|\bI'm|\b[Tt]his is|\b[Nn]ame:)\s+[A-Z][a-z'-]+/;
const NAME_TITLE = /\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][a-z'-]+/;

function digitsOf(text: string): string {
  return text.replace(/\D/g, '');
}

/** The Luhn checksum every payment card number satisfies. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function anyMatch(pattern: RegExp, text: string, accept: (match: string) => boolean): boolean {
  pattern.lastIndex = 0;
  for (const match of text.matchAll(pattern)) if (accept(match[0])) return true;
  return false;
}

export const DETECTORS: Record<PromptGuardDetector, Detector> = {
  SSN: (text) => SSN.test(text),
  Email: (text) => EMAIL.test(text),
  Phone: (text) =>
    anyMatch(PHONE_CANDIDATE, text, (m) => {
      const digits = digitsOf(m).length;
      return digits >= 10 && digits <= 15 && !IPV4_ONLY.test(m.trim()) && !SSN.test(m);
    }),
  CreditCard: (text) => anyMatch(CARD_CANDIDATE, text, (m) => luhnValid(digitsOf(m))),
  IPAddress: (text) =>
    IPV4.test(text) ||
    anyMatch(IPV6_CANDIDATE, text, (m) =>
      m.includes('::') || m.split(':').length === 8 ? isIPv6(m) : false,
    ),
  Name: (text) => NAME_INTRO.test(text) || NAME_TITLE.test(text),
};

/** The first blocked pattern the text matches, named for the client (a detector name or `regex[i]`). */
export function findBlocked(patterns: readonly BlockedPattern[], text: string): string | undefined {
  for (const [i, pattern] of patterns.entries()) {
    if (pattern.kind === 'detector') {
      if (DETECTORS[pattern.detector](text)) return pattern.detector;
    } else {
      pattern.regex.lastIndex = 0;
      if (pattern.regex.test(text)) return `regex[${i}]`;
    }
  }
  return undefined;
}
