import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBlockedPattern, type BlockedPattern } from '../../src/api/index.ts';
import {
  DETECTORS,
  findBlocked,
  luhnValid,
  normalizeGuardText,
  REGEX_OVERLAP,
  REGEX_WINDOW,
} from '../../src/gateway/filters/prompt-guard.ts';

const cases: Record<keyof typeof DETECTORS, { blocked: string[]; allowed: string[] }> = {
  SSN: {
    blocked: [
      'my ssn is 123-45-6789',
      'SSN 078 05 1120 please',
      'ssn 123456789',
      'ssn: 123.45.6789',
      'mixed 123-45.6789',
      '(123456789)',
    ],
    allowed: [
      'order 000-12-3456',
      'call 666-12-3456',
      'id 900-12-3456',
      'zip 12345-6789',
      'no numbers here',
      'bare 000123456',
      'bare 666123456',
      'bare 912345678',
      'group 123-00-6789',
      'group 123006789',
      'serial 123-45-0000',
      'serial 123450000',
      'ten digits 1234567890',
      'inside a word id123456789',
      'eight digits 12345678',
    ],
  },
  Email: {
    blocked: ['write to jane.doe+x@example.co.uk', 'a@b.io'],
    allowed: ['the @ sign', 'user@localhost has no dot', 'see example.com'],
  },
  Phone: {
    blocked: ['call +1 (415) 555-2671', 'phone: 415.555.2671', '+44 20 7946 0958', 'mobile 4155552671'],
    allowed: ['room 555-2671', 'version 1.2.3', 'ip 192.168.100.200', 'ssn 123-45-6789', 'year 2026'],
  },
  CreditCard: {
    blocked: ['card 4111 1111 1111 1111', 'pay with 5500-0000-0000-0004', 'amex 378282246310005'],
    allowed: ['card 4111 1111 1111 1112', 'order 1234567890123', 'short 4111 1111'],
  },
  IPAddress: {
    blocked: [
      'host 10.0.0.7 is down',
      'ping 255.255.255.255',
      'v6 2001:db8::1 here',
      'fe80:0:0:0:202:b3ff:fe1e:8329',
    ],
    allowed: ['version 1.2.3', 'bad 256.1.1.1', 'time 12:30:45', 'ratio 3:2'],
  },
  Name: {
    blocked: ['Hello, my name is Alice', "I'm Bob and I need help", 'Please ask Dr. Smith', 'name: Carol'],
    allowed: ['my name is not important', 'I am happy today', 'this is great', 'the doctor said so'],
  },
};

describe('prompt guard detectors', () => {
  for (const [detector, { blocked, allowed }] of Object.entries(cases)) {
    const detect = DETECTORS[detector as keyof typeof DETECTORS];
    for (const text of blocked) it(`${detector} blocks "${text}"`, () => assert.equal(detect(text), true));
    for (const text of allowed) it(`${detector} allows "${text}"`, () => assert.equal(detect(text), false));
  }

  it('checks card numbers with the Luhn sum', () => {
    assert.equal(luhnValid('4111111111111111'), true);
    assert.equal(luhnValid('4111111111111112'), false);
    assert.equal(luhnValid('79927398713'), true);
  });

  it('names the first matching pattern: a detector by name, a regex by its position', () => {
    const patterns = ['Email', 'regex:(?i)secret project \\w+', 'SSN'].map(
      (p) => parseBlockedPattern(p) as BlockedPattern,
    );
    assert.equal(findBlocked(patterns, 'tell me about SECRET PROJECT apollo'), 'regex[1]');
    assert.equal(findBlocked(patterns, 'mail me at x@y.org, ssn 123-45-6789'), 'Email');
    assert.equal(findBlocked(patterns, 'ssn 123-45-6789'), 'SSN');
    assert.equal(findBlocked(patterns, 'a harmless question'), undefined);
  });
});

describe('prompt guard normalisation', () => {
  it('removes zero-width and bidi characters', () => {
    const invisible =
      '\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
    assert.equal(normalizeGuardText(`1${invisible}2\u00ad3`), '123');
  });

  it('maps fullwidth, Arabic-Indic, Devanagari and astral digits to ASCII', () => {
    assert.equal(normalizeGuardText('１２３ ٤٥ ۶۷ ८९ \u{104A0}\u{1D7D7}'), '123 45 67 89 09');
  });

  it('applies NFKC and writes dashes as "-"', () => {
    assert.equal(
      normalizeGuardText('ＳＳＮ\u00a0１２３－45‐67–89 jane＠example.org'),
      'SSN 123-45-67-89 jane@example.org',
    );
  });

  it('returns ASCII text unchanged', () => {
    const text = 'plain ascii 123-45-6789\n\t~';
    assert.equal(normalizeGuardText(text), text);
  });

  const ssn = [parseBlockedPattern('SSN') as BlockedPattern];
  for (const text of [
    'ssn １２３-４５-６７８９',
    'ssn 123\u200b-45\u200d-6789',
    'ssn \u202e123-45-6789\u202c',
    'ssn 12\u20603\u200b4\ufeff56789',
    'ssn ١٢٣-٤٥-٦٧٨٩',
    'ssn 123–45–6789',
  ]) {
    it(`finds the SSN in ${JSON.stringify(text)}`, () => assert.equal(findBlocked(ssn, text), 'SSN'));
  }

  it('finds a fullwidth e-mail address and a name written in fullwidth letters', () => {
    const patterns = ['Email', 'Name'].map((p) => parseBlockedPattern(p) as BlockedPattern);
    assert.equal(findBlocked(patterns, 'write to ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ'), 'Email');
    assert.equal(findBlocked(patterns, 'ｍｙ ｎａｍｅ ｉｓ Ａｌｉｃｅ'), 'Name');
    assert.equal(findBlocked(patterns, 'I\u2019m Bob'), 'Name');
  });
});

describe('prompt guard texts and regex windows', () => {
  const patterns = ['SSN', 'Phone'].map((p) => parseBlockedPattern(p) as BlockedPattern);

  it('checks every text of a request, but no match spans two texts', () => {
    assert.equal(findBlocked(patterns, ['hello', 'ssn 123-45-6789']), 'SSN');
    assert.equal(findBlocked(patterns, ['ssn 123-45', '6789']), undefined);
    assert.equal(findBlocked(patterns, ['call 415 555', '2671']), undefined);
    assert.equal(findBlocked(patterns, []), undefined);
  });

  it('runs a regex over a long text in overlapping windows and finds a match across a window edge', () => {
    const regex = [parseBlockedPattern('regex:secret [a-z]{20}') as BlockedPattern];
    const edge = REGEX_WINDOW - 10;
    const text = `${'x '.repeat(edge / 2)}secret ${'y'.repeat(20)} ${'x '.repeat(50_000)}`;
    assert.ok(REGEX_OVERLAP > 30 && text.length > 10 * REGEX_WINDOW);
    assert.equal(findBlocked(regex, text), 'regex[0]');
    assert.equal(findBlocked(regex, `${'x '.repeat(100_000)}secret ${'z'.repeat(20)}`), 'regex[0]');
    assert.equal(findBlocked(regex, 'x '.repeat(100_000)), undefined);
  });

  it('blocks (fails closed) when a backtracking regex exceeds the time budget, within bounded time', () => {
    const quadratic = [parseBlockedPattern('regex:[a.]+@x') as BlockedPattern];
    assert.equal(findBlocked(quadratic, 'a'.repeat(2000)), undefined);
    const started = performance.now();
    assert.equal(findBlocked(quadratic, 'a'.repeat(4 * 1024 * 1024)), 'regex[0]');
    assert.ok(performance.now() - started < 3000, `took ${performance.now() - started} ms`);
  });
});
