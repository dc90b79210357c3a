/**
 * The Grafana dashboards, generated from src/dashboards/*.ts into the chart's dashboards/ folder (the chart
 * turns each file into a ConfigMap for Grafana's dashboard sidecar). `infctl dashboards check` fails when the
 * files differ from what the code generates.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CACHE_LOOP } from './cache-loop.ts';
import { CONTROL_PLANE } from './control-plane.ts';
import { dashboardJson } from './grafana.ts';
import { OVERVIEW } from './overview.ts';

const DASHBOARD_DIR = 'deploy/charts/inference-controller/dashboards';

const DASHBOARDS = [OVERVIEW, CACHE_LOOP, CONTROL_PLANE];

/** File name to JSON text, for every dashboard. */
export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [`${d.file}.json`, `${shallowJson(dashboardJson(d), 2)}\n`]));
}

/**
 * JSON laid out `levels` deep and compact below: the dashboard's keys and each panel, variable or link on a line
 * of its own, so a change to a panel is a one-line diff and the files stay short.
 */
function shallowJson(value: unknown, levels: number, indent = ''): string {
  if (levels === 0 || value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  const lines = Array.isArray(value)
    ? value.map((v) => inner + shallowJson(v, levels - 1, inner))
    : Object.entries(value).map(
        ([k, v]) => `${inner}${JSON.stringify(k)}: ${shallowJson(v, levels - 1, inner)}`,
      );
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  return lines.length ? `${open}\n${lines.join(',\n')}\n${indent}${close}` : `${open}${close}`;
}

export async function writeDashboards(dir = DASHBOARD_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of renderDashboards()) {
    await writeFile(join(dir, name), text);
    written.push(join(dir, name));
  }
  return written;
}

/** Files in `dir` that differ from what generation produces, or are missing or not generated. */
export async function staleDashboards(dir = DASHBOARD_DIR): Promise<string[]> {
  const files = renderDashboards();
  const stale: string[] = [];
  for (const [name, text] of files) {
    const actual = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (actual !== text) stale.push(`${name} (${actual === undefined ? 'missing' : 'differs'})`);
  }
  const present = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  for (const f of present) if (!files.has(f)) stale.push(`${f} (not generated)`);
  return stale;
}
