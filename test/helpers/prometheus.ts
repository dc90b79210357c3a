/**
 * A real Prometheus (Debian's package, located through src/tools) for the observability test, and the queries
 * the product ships: every dashboard panel's and annotation's expression, and every alert rule's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, waitFor } from '../../src/cli/dev/processes.ts';
import { binary } from '../../src/tools/components.ts';
import { components } from './components.ts';

const CHART = 'deploy/charts/inference-controller';

export interface ScrapeJob {
  job: string;
  /** host:port targets with their labels; a job with `file` reads them from there instead (updatable). */
  targets?: string[];
}

export interface RunningPrometheus {
  url: string;
  /** Rewrites the engines' targets (file_sd, which Prometheus watches). */
  setEngineTargets: (groups: { targets: string[]; labels: Record<string, string> }[]) => void;
  queryRange: (expr: string, start: number, end: number, step: number) => Promise<RangeResult>;
  output: () => string;
  stop: () => Promise<void>;
}

export interface RangeResult {
  status: string;
  error?: string;
  data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
}

/** Starts Prometheus scraping `jobs` every second, plus an `engines` job fed through a targets file. */
export async function startPrometheus(jobs: ScrapeJob[]): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'infctl-prometheus-'));
  const engines = join(dir, 'engines.json');
  writeFileSync(engines, '[]');
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      ...jobs.map((j) => ({ job_name: j.job, static_configs: [{ targets: j.targets ?? [] }] })),
      { job_name: 'engines', file_sd_configs: [{ files: [engines], refresh_interval: '1s' }] },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary(components('prometheus'), 'prometheus', 'prometheus'),
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'prometheus ready',
    async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
    30_000,
    () => child.exitCode === null,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  return {
    url,
    setEngineTargets: (groups) => writeFileSync(engines, JSON.stringify(groups)),
    queryRange: async (expr, start, end, step) => {
      const body = new URLSearchParams({
        query: expr,
        start: String(start),
        end: String(end),
        step: String(step),
      });
      const res = await fetch(`${url}/api/v1/query_range`, { method: 'POST', body });
      return (await res.json()) as RangeResult;
    },
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ShippedQuery {
  /** Where it comes from: dashboard file, panel title and refId; or the alert's name. */
  where: string;
  expr: string;
}

interface DashboardJson {
  templating: { list: { name: string; type: string; allValue?: string }[] };
  annotations: { list: { name: string; expr?: string }[] };
  panels: { type: string; title: string; targets?: { refId: string; expr: string }[] }[];
}

/**
 * Grafana's variables as the dashboard would send them with "All" selected, and its interval variables as
 * they come out for this test's 1 s scrape interval and short range.
 */
function substitute(expr: string, dashboard: DashboardJson, rangeSeconds: number): string {
  const values: Record<string, string> = {
    __rate_interval: '10s',
    __interval: '2s',
    __range: `${Math.ceil(rangeSeconds)}s`,
  };
  for (const v of dashboard.templating.list) if (v.type === 'query') values[v.name] = v.allValue ?? '.*';
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
}

/** Every panel target and annotation of the chart's dashboards, variables substituted. */
export function dashboardQueries(rangeSeconds: number): ShippedQuery[] {
  const dir = join(CHART, 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as DashboardJson;
      const panels = d.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({
          where: `${file}: "${p.title}" ${t.refId}`,
          expr: substitute(t.expr, d, rangeSeconds),
        })),
      );
      const annotations = d.annotations.list
        .filter((a) => a.expr)
        .map((a) => ({
          where: `${file}: annotation "${a.name}"`,
          expr: stripThreshold(substitute(a.expr!, d, rangeSeconds)),
        }));
      return [...panels, ...annotations];
    });
}

/**
 * `<expression> <op> <number>` without the comparison: what an alert (or an annotation) compares against its
 * threshold, which has data whenever the metrics it reads exist, firing or not.
 */
export function stripThreshold(expr: string): string {
  const m = /^([\s\S]*?)\s*(==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?\s*$/.exec(
    expr.trim(),
  );
  return m ? m[1]!.trim() : expr.trim();
}

/** Every alert rule of the chart's rules file, its threshold removed. */
export function alertQueries(): ShippedQuery[] {
  const rules = parse(readFileSync(join(CHART, 'rules', 'alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return rules.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: stripThreshold(r.expr) })),
  );
}
