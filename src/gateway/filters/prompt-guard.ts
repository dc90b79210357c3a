import { isIPv6 } from 'node:net';
import type { BlockedPattern, PromptGuardDetector } from '../../api/index.ts';

/**
 * Returns true when `text` (already normalised) contains what the detector looks for. Rules:
 * PROMPT_GUARD_DETECTORS in src/api. Every detector runs in time linear in the text: each regex either fails
 * after a bounded number of steps at every start position (bounded quantifiers, a lookbehind that lets only the
 * first character of a run start), or anchors on a character whose following run no other start rescans.
 */
type Detector = (text: string) => boolean;

const SSN_AREA = '(?!000|666|9\\d\\d)\\d{3}';
const SSN_GROUP = '(?!00)\\d{2}';
const SSN_SERIAL = '(?!0000)\\d{4}';
const SSN = new RegExp(
  `(?<!\\d)${SSN_AREA}[-. ]${SSN_GROUP}[-. ]${SSN_SERIAL}(?!\\d)|\\b${SSN_AREA}${SSN_GROUP}${SSN_SERIAL}\\b`,
);
/** Only the `@` starts a match and the label after it is scanned once, so a run without `@` costs one step a character. */
const EMAIL = /(?<=[A-Za-z0-9._%+-])@[A-Za-z0-9-]+\.[A-Za-z0-9-]/;
/** The lookahead lets a candidate start only where a digit follows, so runs of "(" never start one. */
const PHONE_CANDIDATE = /(?<![\w.+-])\+?(?=\(?\d)[\d(][\d\s().-]{8,24}\d(?!\w)/g;
const IPV4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![\\d.])${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}(?![\\d.]*\\d)`);
const IPV4_ONLY = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const IPV6_CANDIDATE = /(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])/g;
const CARD_CANDIDATE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
const NAME_INTRO = /(?:\b[Mm]y name is|\bI am|\bI'm|\b[Tt]his is|\b[Nn]ame:)\s+[A-Z][a-z'-]+/;
const NAME_TITLE = /\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][a-z'-]+/;

/**
 * How the normaliser treats a character (besides NFKC): format characters (zero-width, bidi controls, soft
 * hyphen, ...: `Cf`) split a number for the eye only and are dropped; decimal digits (`Nd`) become ASCII digits;
 * dashes (`Pd`) become "-" and typographic apostrophes "'".
 */
const KEEP = 0;
const DROP = 1;
const DIGIT = 2;
const DASH = 3;
const APOSTROPHE = 4;
const APOSTROPHES = new Set(['\u2018', '\u2019', '\u02bc']);
const FORMAT = /^\p{Cf}$/u;
const DECIMAL = /^\p{Nd}$/u;
const DASHES = /^\p{Pd}$/u;
const NON_ASCII = /[\u0080-\uffff]/;

/** BMP classes and digit values, built on the first non-ASCII text (65,536 look-ups, a few milliseconds). */
let bmp: { kinds: Uint8Array; digits: Uint8Array } | undefined;
/** Astral characters, classified when first seen: kind * 16 + digit value. */
const astralKinds = new Map<number, number>();

function kindOf(char: string): number {
  if (FORMAT.test(char)) return DROP;
  if (DECIMAL.test(char)) return DIGIT;
  if (DASHES.test(char)) return DASH;
  if (APOSTROPHES.has(char)) return APOSTROPHE;
  return KEEP;
}

function buildBmpTables(): { kinds: Uint8Array; digits: Uint8Array } {
  const kinds = new Uint8Array(0x10000);
  const digits = new Uint8Array(0x10000);
  let runStart = 0;
  for (let c = 0x80; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    kinds[c] = kindOf(String.fromCharCode(c));
    // Unicode encodes every Nd digit in runs of ten, 0 to 9 in order: the value is the offset in the run mod 10.
    if (kinds[c] === DIGIT) {
      if (kinds[c - 1] !== DIGIT) runStart = c;
      digits[c] = (c - runStart) % 10;
    }
  }
  return { kinds, digits };
}

function astralKind(code: number): number {
  let entry = astralKinds.get(code);
  if (entry === undefined) {
    const kind = kindOf(String.fromCodePoint(code));
    let start = code;
    if (kind === DIGIT) while (DECIMAL.test(String.fromCodePoint(start - 1))) start--;
    entry = kind * 16 + ((code - start) % 10);
    astralKinds.set(code, entry);
  }
  return entry;
}

const utf16 = new TextDecoder('utf-16le');

/**
 * One pass over the UTF-16 code units: drops format characters and, when `ascii`, writes digits and dashes as
 * ASCII. A hand-written loop: a regex replace with dense matches costs several times as much.
 */
function rewrite(text: string, ascii: boolean): string {
  bmp ??= buildBmpTables();
  const { kinds, digits } = bmp;
  const out = new Uint16Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    let kind: number;
    let digit: number;
    let units = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low < 0xdc00 || low > 0xdfff) {
        out[n++] = c;
        continue;
      }
      const entry = astralKind((c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000);
      kind = entry >> 4;
      digit = entry & 15;
      units = 2;
    } else {
      kind = kinds[c] ?? KEEP;
      digit = digits[c] ?? 0;
    }
    if (kind === DROP) {
      i += units - 1;
    } else if (ascii && kind === DIGIT) {
      out[n++] = 48 + digit;
      i += units - 1;
    } else if (ascii && kind === DASH) {
      out[n++] = 45;
      i += units - 1;
    } else if (ascii && kind === APOSTROPHE) {
      out[n++] = 39;
      i += units - 1;
    } else {
      out[n++] = c;
      if (units === 2) out[n++] = text.charCodeAt(++i);
    }
  }
  return utf16.decode(out.subarray(0, n));
}

/**
 * The text every pattern sees: format characters removed, NFKC (fullwidth and other compatibility forms become
 * ASCII), then every decimal digit written as ASCII, every dash as "-" and a typographic apostrophe as "'".
 * Linear; ASCII text is returned as is.
 */
export function normalizeGuardText(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  return rewrite(rewrite(text, false).normalize('NFKC'), true);
}

function digitCount(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** The Luhn checksum every payment card number satisfies (non-digits are skipped). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
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
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    if (accept(match[0])) {
      pattern.lastIndex = 0;
      return true;
    }
  }
  return false;
}

export const DETECTORS: Record<PromptGuardDetector, Detector> = {
  SSN: (text) => SSN.test(text),
  Email: (text) => EMAIL.test(text),
  Phone: (text) =>
    anyMatch(PHONE_CANDIDATE, text, (m) => {
      const digits = digitCount(m);
      return digits >= 10 && digits <= 15 && !IPV4_ONLY.test(m.trim()) && !SSN.test(m);
    }),
  CreditCard: (text) => anyMatch(CARD_CANDIDATE, text, luhnValid),
  IPAddress: (text) =>
    IPV4.test(text) ||
    anyMatch(IPV6_CANDIDATE, text, (m) =>
      m.includes('::') || m.split(':').length === 8 ? isIPv6(m) : false,
    ),
  Name: (text) => NAME_INTRO.test(text) || NAME_TITLE.test(text),
};

/**
 * A `regex:` pattern is an arbitrary JavaScript regular expression, which no wrapper can make linear. What the
 * gateway bounds: a text longer than REGEX_WINDOW runs in windows of that size overlapping by REGEX_OVERLAP (a
 * match up to REGEX_OVERLAP characters long is always inside one), so a quadratic pattern costs
 * O(text × window) instead of O(text²); and when the user patterns of one request have run for REGEX_BUDGET_MS
 * the request is blocked as if the pattern had matched (fail closed).
 */
export const REGEX_WINDOW = 4096;
export const REGEX_OVERLAP = 1024;
const REGEX_BUDGET_MS = 200;

function regexMatches(regex: RegExp, text: string, deadline: number): boolean {
  regex.lastIndex = 0;
  if (text.length <= REGEX_WINDOW) return regex.test(text);
  for (let start = 0; start < text.length; start += REGEX_WINDOW - REGEX_OVERLAP) {
    regex.lastIndex = 0;
    if (regex.test(text.slice(start, start + REGEX_WINDOW))) return true;
    if (start + REGEX_WINDOW >= text.length) break;
    if (performance.now() > deadline) return true;
  }
  return false;
}

/**
 * Joins the texts of one request. No detector's pattern crosses a NUL, and `.` without the `s` flag does not
 * cross a newline, so a match never spans two texts.
 */
const TEXT_SEPARATOR = '\n\u0000\n';

/**
 * The first blocked pattern the texts match, named for the client (a detector name or `regex[i]`). The texts are
 * normalised first (normalizeGuardText); detectors and `regex:` patterns alike see the normalised text.
 */
export function findBlocked(
  patterns: readonly BlockedPattern[],
  texts: string | readonly string[],
): string | undefined {
  const text = normalizeGuardText(typeof texts === 'string' ? texts : texts.join(TEXT_SEPARATOR));
  if (text.length === 0) return undefined;
  let deadline: number | undefined;
  for (const [i, pattern] of patterns.entries()) {
    if (pattern.kind === 'detector') {
      if (DETECTORS[pattern.detector](text)) return pattern.detector;
    } else if (regexMatches(pattern.regex, text, (deadline ??= performance.now() + REGEX_BUDGET_MS))) {
      return `regex[${i}]`;
    }
  }
  return undefined;
}
