/**
 * What bench/scale.ts measures besides latencies: CPU seconds and RSS of process groups (from /proc), the
 * API server's request counts by verb and resource (its /metrics), the Temporal server's request counts by
 * operation (its Prometheus endpoint).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseExposition } from '../src/metrics/exposition.ts';

const TICKS = 100; // USER_HZ on Linux

interface GroupSample {
  cpuSeconds: number;
  rssBytes: number;
}

/** CPU seconds (user + system, including reaped children) and resident memory of every process in a group. */
export function sampleGroup(pgid: number): GroupSample {
  let ticks = 0;
  let rss = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may hold spaces) start at index 0 = state.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue;
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    rss += Number(fields[21]) * 4096;
  }
  return { cpuSeconds: ticks / TICKS, rssBytes: rss };
}

/** Peak RSS per group, sampled every second while a run lasts. */
export class RssSampler {
  readonly peak = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  constructor(private readonly groups: Record<string, number>) {}
  start(): void {
    this.peak.clear();
    const tick = () => {
      for (const [name, pgid] of Object.entries(this.groups)) {
        const { rssBytes } = sampleGroup(pgid);
        this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rssBytes));
      }
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }
  stop(): Map<string, number> {
    clearInterval(this.timer);
    return new Map(this.peak);
  }
}

export type Counts = Map<string, number>;

/** `apiserver_request_total` summed by "VERB resource" (the bench's own watches and applies are included). */
export function apiserverCounts(exposition: string): Counts {
  const out: Counts = new Map();
  for (const s of parseExposition(exposition)) {
    if (s.name !== 'apiserver_request_total') continue;
    const resource = s.labels.resource ?? '';
    if (!resource || s.labels.verb === 'WATCH') continue;
    const key = `${s.labels.verb} ${resource}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** The Temporal frontend's `service_requests` summed by operation. */
export function temporalCounts(exposition: string): Counts {
  const out: Counts = new Map();
  for (const s of parseExposition(exposition)) {
    if (s.name !== 'service_requests' || !s.labels.operation) continue;
    if (s.labels.service_name && s.labels.service_name !== 'frontend') continue;
    out.set(s.labels.operation, (out.get(s.labels.operation) ?? 0) + s.value);
  }
  return out;
}

export function diff(after: Counts, before: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

/** The largest entries, "key n" joined, for a table cell or a line of the report. */
export function top(counts: Counts, n = 8): string {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${Math.round(v)}`)
    .join(', ');
}

export const total = (counts: Counts) => [...counts.values()].reduce((a, b) => a + b, 0);
