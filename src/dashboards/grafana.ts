/**
 * A small typed model of Grafana's dashboard JSON (schemaVersion 39, the classic model every Grafana from 10.x
 * on loads and the sidecar provisions), enough for Prometheus time series, stat panels, rows, template
 * variables and annotations. The dashboards are written with these helpers and rendered to JSON by
 * src/dashboards/index.ts; the generated files are never edited by hand.
 */

/** Every query goes to the data source the user picks in the `datasource` variable. */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Query {
  expr: string;
  legend: string;
}

/** One query with its legend (`{{label}}` placeholders). */
export const q = (expr: string, legend: string): Query => ({ expr, legend });

interface PanelOptions {
  title: string;
  description: string;
  queries: Query[];
  /** A Grafana unit id: s, percentunit, reqps, ops, short, none. */
  unit: string;
  min?: number;
  max?: number;
  /** Grid width in columns (24 per row); height is fixed per kind. */
  width?: number;
  /** Draw the series whose names match these regular expressions as dashed threshold lines. */
  thresholdSeries?: string[];
  /** Bars instead of lines (counts per interval). */
  bars?: boolean;
  stacked?: boolean;
}

export type PanelSpec = PanelOptions & { kind: 'timeseries' | 'stat' };

export interface RowSpec {
  kind: 'row';
  title: string;
}

export const timeseries = (o: PanelOptions): PanelSpec => ({ kind: 'timeseries', ...o });
export const stat = (o: PanelOptions): PanelSpec => ({ kind: 'stat', ...o });
export const row = (title: string): RowSpec => ({ kind: 'row', title });

export interface VariableSpec {
  name: string;
  label: string;
  /** A `label_values(metric, label)` query. */
  query: string;
}

export interface AnnotationSpec {
  name: string;
  /** A PromQL expression; every sample is an annotation at its time. */
  expr: string;
  color: string;
  title: string;
  text: string;
  tagKeys: string[];
}

export interface DashboardSpec {
  /** The file name (without .json) and, prefixed with infctl-, the uid. */
  file: string;
  title: string;
  description: string;
  variables: VariableSpec[];
  annotations: AnnotationSpec[];
  items: (PanelSpec | RowSpec)[];
}

const HEIGHT = { timeseries: 8, stat: 4, row: 1 } as const;

function fieldConfig(p: PanelSpec) {
  const custom =
    p.kind === 'timeseries'
      ? {
          drawStyle: p.bars ? 'bars' : 'line',
          lineWidth: 1,
          fillOpacity: p.bars ? 80 : 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: p.stacked ? 'normal' : 'none', group: 'A' },
        }
      : {};
  return {
    defaults: {
      unit: p.unit,
      ...(p.min !== undefined ? { min: p.min } : {}),
      ...(p.max !== undefined ? { max: p.max } : {}),
      color: { mode: 'palette-classic' },
      custom,
    },
    overrides: (p.thresholdSeries ?? []).map((pattern) => ({
      matcher: { id: 'byRegexp', options: `/${pattern}/` },
      properties: [
        { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
        { id: 'custom.fillOpacity', value: 0 },
        { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
      ],
    })),
  };
}

function panelOptions(p: PanelSpec) {
  if (p.kind === 'stat')
    return {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      textMode: 'auto',
    };
  return {
    legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
    tooltip: { mode: 'multi', sort: 'desc' },
  };
}

function panelJson(p: PanelSpec, id: number, gridPos: object) {
  return {
    id,
    type: p.kind,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: fieldConfig(p),
    options: panelOptions(p),
    targets: p.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
      editorMode: 'code',
    })),
  };
}

/** Lays the items out left to right in rows of 24 columns; a row item starts a new line. */
function layout(items: (PanelSpec | RowSpec)[]): object[] {
  const panels: object[] = [];
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  const newline = () => {
    y += lineHeight;
    x = 0;
    lineHeight = 0;
  };
  items.forEach((item, i) => {
    const id = i + 1;
    if (item.kind === 'row') {
      newline();
      panels.push({
        id,
        type: 'row',
        title: item.title,
        collapsed: false,
        panels: [],
        gridPos: { x: 0, y, w: 24, h: 1 },
      });
      y += HEIGHT.row;
      return;
    }
    const w = item.width ?? 12;
    if (x + w > 24) newline();
    panels.push(panelJson(item, id, { x, y, w, h: HEIGHT[item.kind] }));
    x += w;
    lineHeight = Math.max(lineHeight, HEIGHT[item.kind]);
  });
  return panels;
}

function variableJson(v: VariableSpec) {
  return {
    type: 'query',
    name: v.name,
    label: v.label,
    datasource: DATASOURCE,
    definition: v.query,
    query: { query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    includeAll: true,
    allValue: '.*',
    multi: true,
    sort: 1,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    hide: 0,
  };
}

export function dashboardJson(d: DashboardSpec): object {
  return {
    uid: `infctl-${d.file}`,
    title: d.title,
    description: d.description,
    tags: ['inference-controller'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    links: [
      { title: 'inference-controller', type: 'dashboards', tags: ['inference-controller'], asDropdown: true },
    ],
    templating: {
      list: [
        {
          type: 'datasource',
          name: 'datasource',
          label: 'Data source',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
        },
        ...d.variables.map(variableJson),
      ],
    },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        ...d.annotations.map((a) => ({
          name: a.name,
          datasource: DATASOURCE,
          enable: true,
          hide: false,
          iconColor: a.color,
          expr: a.expr,
          step: '30s',
          titleFormat: a.title,
          textFormat: a.text,
          tagKeys: a.tagKeys.join(','),
          useValueForTime: false,
        })),
      ],
    },
    panels: layout(d.items),
  };
}
