import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { renderDashboards, staleDashboards } from '../../src/dashboards/index.ts';

const DATASOURCE = z.strictObject({ type: z.literal('prometheus'), uid: z.literal('${datasource}') });
const GRID = z.strictObject({
  x: z.number().int().min(0).max(23),
  y: z.number().int().min(0),
  w: z.number().int().min(1).max(24),
  h: z.number().int().min(1),
});
const TARGET = z.object({
  refId: z.string().regex(/^[A-Z]$/),
  datasource: DATASOURCE,
  expr: z.string().min(1),
  legendFormat: z.string(),
});
const PANEL = z.discriminatedUnion('type', [
  z.object({ type: z.literal('row'), id: z.number().int(), title: z.string().min(1), gridPos: GRID }),
  z.object({
    type: z.enum(['timeseries', 'stat']),
    id: z.number().int(),
    title: z.string().min(1),
    description: z.string().min(1),
    datasource: DATASOURCE,
    gridPos: GRID,
    fieldConfig: z.object({
      defaults: z.object({ unit: z.string().min(1) }),
      overrides: z.array(z.unknown()),
    }),
    targets: z.array(TARGET).min(1),
  }),
]);
/** The part of Grafana's dashboard model (schemaVersion 39) the sidecar provisions and the tests read. */
const DASHBOARD = z.object({
  uid: z.string().regex(/^infctl-[a-z-]+$/),
  title: z.string().min(1),
  schemaVersion: z.literal(39),
  templating: z.object({
    list: z.array(z.object({ type: z.enum(['datasource', 'query']), name: z.string(), query: z.unknown() })),
  }),
  annotations: z.object({ list: z.array(z.object({ name: z.string(), expr: z.string().optional() })) }),
  panels: z.array(PANEL).min(1),
});

/** Grafana's own variables a query may use. */
const BUILTIN = new Set(['__rate_interval', '__interval', '__range']);

const dashboards = [...renderDashboards()].map(([file, text]) => ({
  file,
  json: DASHBOARD.parse(JSON.parse(text), { reportInput: false }),
}));

describe('the Grafana dashboards', () => {
  it('are exactly what src/dashboards generates (run `make dashboards` when this fails)', async () => {
    assert.deepEqual(await staleDashboards(), []);
  });

  it('are three: overview, cache loop, control plane', () => {
    assert.deepEqual(dashboards.map((d) => d.json.uid).sort(), [
      'infctl-cache-loop',
      'infctl-control-plane',
      'infctl-overview',
    ]);
  });

  it('have unique panel ids and panels that do not overlap in the 24-column grid', () => {
    for (const { file, json } of dashboards) {
      const ids = json.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: duplicate panel ids`);
      const cells = new Set<string>();
      for (const p of json.panels) {
        assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${file}: "${p.title}" is wider than the grid`);
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            assert.ok(!cells.has(`${x},${y}`), `${file}: "${p.title}" overlaps another panel at ${x},${y}`);
            cells.add(`${x},${y}`);
          }
      }
    }
  });

  it('use only variables they define or Grafana provides', () => {
    for (const { file, json } of dashboards) {
      const defined = new Set(json.templating.list.map((v) => v.name));
      const exprs = [
        ...json.panels.flatMap((p) => (p.type === 'row' ? [] : p.targets.map((t) => t.expr))),
        ...json.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
      ];
      for (const expr of exprs)
        for (const [, name] of expr.matchAll(/\$\{?(\w+)\}?/g))
          assert.ok(defined.has(name!) || BUILTIN.has(name!), `${file}: ${expr} uses undefined $${name}`);
    }
  });

  it('name engine counters with and without _total (vLLM appends it, the simulator does not)', () => {
    for (const { file, json } of dashboards)
      for (const p of json.panels)
        if (p.type !== 'row')
          for (const t of p.targets)
            for (const [name] of t.expr.matchAll(/vllm:[a-z_]+/g))
              if (name.endsWith('_total') || /_(hits|queries|tokens)$/.test(name))
                assert.match(
                  t.expr,
                  /\{__name__=~"vllm:[a-z_]+\(_total\)\?"/,
                  `${file}: "${p.title}": ${name}`,
                );
  });
});
