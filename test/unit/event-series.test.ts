import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSeries } from '../../src/activities/kubernetes/events.ts';

const ref = { apiVersion: 'v1', kind: 'InferenceCache', namespace: 'ns', name: 'c', uid: 'u1' };

describe('EventSeries: identical Events within the window are one, counted', () => {
  it('counts repeats on the first Event, and starts a new one after the window', () => {
    const s = new EventSeries(1_000, 10);
    const key = EventSeries.key(ref, 'Warning', 'EvictionFailed', 'refused');
    assert.equal(s.repeat(key, 0), undefined);
    s.recorded(key, 'c.1', 1, 0);
    assert.deepEqual(s.repeat(key, 500), { name: 'c.1', count: 2 });
    s.recorded(key, 'c.1', 2, 500);
    // The window runs from the last repeat, so a steady repeat keeps one Event.
    assert.deepEqual(s.repeat(key, 1_400), { name: 'c.1', count: 3 });
    assert.equal(s.repeat(key, 1_501), undefined);
  });

  it('keeps other objects, reasons and messages apart', () => {
    const base = EventSeries.key(ref, 'Warning', 'EvictionFailed', 'refused');
    const others = [
      EventSeries.key({ ...ref, name: 'd' }, 'Warning', 'EvictionFailed', 'refused'),
      EventSeries.key({ ...ref, uid: 'u2' }, 'Warning', 'EvictionFailed', 'refused'),
      EventSeries.key(ref, 'Normal', 'EvictionFailed', 'refused'),
      EventSeries.key(ref, 'Warning', 'Evicted', 'refused'),
      EventSeries.key(ref, 'Warning', 'EvictionFailed', 'refused again'),
    ];
    const s = new EventSeries(1_000, 10);
    s.recorded(base, 'c.1', 1, 0);
    for (const k of others) assert.equal(s.repeat(k, 1), undefined, k);
  });

  it('forgets the least recently recorded series beyond its bound, and one it is told to', () => {
    const s = new EventSeries(60_000, 2);
    const [a, b, c] = ['a', 'b', 'c'].map((m) => EventSeries.key(ref, 'Normal', 'R', m));
    s.recorded(a!, 'a', 1, 0);
    s.recorded(b!, 'b', 1, 1);
    s.recorded(a!, 'a', 2, 2);
    s.recorded(c!, 'c', 1, 3);
    assert.deepEqual(s.repeat(a!, 4), { name: 'a', count: 3 });
    assert.equal(s.repeat(b!, 4), undefined);
    s.forget(c!);
    assert.equal(s.repeat(c!, 4), undefined);
  });
});
