import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBlockedPattern, type BlockedPattern } from '../../src/api/index.ts';
import { DETECTORS, findBlocked, luhnValid } from '../../src/gateway/filters/prompt-guard.ts';

const cases: Record<keyof typeof DETECTORS, { blocked: string[]; allowed: string[] }> = {
  SSN: {
    blocked: ['my ssn is 123-45-6789', 'SSN 078 05 1120 please'],
    allowed: ['order 000-12-3456', 'call 666-12-3456', 'id 900-12-3456', 'zip 12345-6789', 'no numbers here'],
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
