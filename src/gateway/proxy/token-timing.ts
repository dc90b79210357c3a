/**
 * Inter-token latency as the gateway relays a server-sent-event stream: the events are counted as chunks pass
 * (without parsing their JSON, so the relay stays cheap), and the time between them is measured.
 */

/** Enough of a line to tell `data: [DONE]` (with a `\r`) from a token event. */
const HEAD_CHARS = 16;

/** Counts the `data:` events of an SSE stream that carry a chunk of the answer (not `[DONE]`), chunk by chunk. */
export class SseEventCounter {
  /** The start of the line the last chunk left unfinished. */
  private head = '';

  /** How many event lines end in `chunk` (a line split across chunks counts once, where it ends). */
  push(chunk: Buffer): number {
    let events = 0;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const line = this.head + chunk.toString('latin1', start, Math.min(nl, start + HEAD_CHARS));
      if (isTokenEvent(line)) events++;
      this.head = '';
      start = nl + 1;
    }
    if (this.head.length < HEAD_CHARS && start < chunk.length)
      this.head += chunk.toString(
        'latin1',
        start,
        Math.min(chunk.length, start + HEAD_CHARS - this.head.length),
      );
    return events;
  }
}

function isTokenEvent(line: string): boolean {
  if (!line.startsWith('data:')) return false;
  const data = line.slice(5).trim();
  return data !== '' && data !== '[DONE]';
}

/**
 * The intervals between events, from the times their chunks arrived. The first chunk's events start the clock
 * (what came before them is the time to first token). A chunk that brings n events after a gap counts n
 * intervals of gap/n: the events were produced one by one and only reached the gateway together, so the sum of
 * the intervals stays the stream's real duration.
 */
export class InterTokenClock {
  private last?: number;

  /** `events` arrived at `nowMs`: calls `observe` once per interval, in seconds. */
  arrived(nowMs: number, events: number, observe: (seconds: number) => void): void {
    if (events <= 0) return;
    if (this.last !== undefined) {
      const each = (nowMs - this.last) / 1000 / events;
      for (let i = 0; i < events; i++) observe(each);
    }
    this.last = nowMs;
  }
}
