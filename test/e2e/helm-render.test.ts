/**
 * The Helm chart rendered: helm lint, the default values and every option rendered into manifests the local
 * API server accepts (--dry-run=server, with the generated prometheus-operator CRDs installed for the monitoring
 * objects), the probes on the metrics port, and values the schema refuses. helm.test.ts installs it.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR } from '../../src/cli/crds.ts';
import { ChartRelease } from '../helpers/chart-release.ts';
import { assertProbes, installMonitoringCrds, ok, renderedContainers } from '../helpers/helm.ts';

const EVERY_OPTION = join(CHART_DIR, 'ci', 'every-option-values.yaml');
const chart = new ChartRelease('helm-render', []);

describe('the Helm chart, rendered and checked by the API server', () => {
  before(async () => {
    await chart.setUp();
    // Every option includes the monitoring objects: the generated prometheus-operator CRDs serve them.
    installMonitoringCrds(chart.kubectl);
  });
  after(() => chart.tearDown());

  it('passes helm lint --strict', () => {
    ok(chart.helm(['lint', '--strict', CHART_DIR, '--set', 'temporal.address=temporal:7233']), 'helm lint');
    ok(chart.helm(['lint', '--strict', CHART_DIR, '-f', EVERY_OPTION]), 'helm lint with every option');
  });

  it('renders the default values and every option into manifests the API server accepts (--dry-run=server)', () => {
    const dashboards = existsSync(join(CHART_DIR, 'dashboards'))
      ? readdirSync(join(CHART_DIR, 'dashboards')).filter((f) => f.endsWith('.json')).length
      : 0;
    const monitoring = ['PodMonitor', 'PrometheusRule', 'Service', 'ServiceMonitor'];
    for (const [values, extraKinds] of [
      [['--set', 'temporal.address=temporal:7233'], []],
      [['-f', EVERY_OPTION], dashboards > 0 ? [...monitoring, 'ConfigMap'] : monitoring],
    ] as [string[], string[]][]) {
      const rendered = chart.helm([
        'template',
        chart.release,
        CHART_DIR,
        '-n',
        chart.namespace,
        '--include-crds',
        ...values,
      ]);
      ok(rendered, `helm template ${values.join(' ')}`);
      const kinds = parseAllDocuments(rendered.stdout)
        .map((d) => (d.toJS() as { kind?: string } | null)?.kind)
        .filter((k) => k !== undefined)
        .sort();
      assert.deepEqual(
        [...new Set(kinds)],
        [
          'ClusterRole',
          'ClusterRoleBinding',
          'CustomResourceDefinition',
          'Deployment',
          'PodDisruptionBudget',
          'ServiceAccount',
          ...extraKinds,
        ].sort(),
      );
      // Three component roles and the aggregated view and edit roles.
      assert.equal(kinds.filter((k) => k === 'ClusterRole').length, 5);
      ok(
        chart.kubectl(['apply', '--dry-run=server', '-n', chart.namespace, '-f', '-'], rendered.stdout),
        `kubectl apply --dry-run=server of ${values.join(' ')}`,
      );
    }
    const all = chart.helm([
      'template',
      chart.release,
      CHART_DIR,
      '-n',
      chart.namespace,
      '-f',
      EVERY_OPTION,
    ]).stdout;
    for (const text of [
      'TEMPORAL_TLS_CA',
      'TEMPORAL_API_KEY',
      'secretName: temporal-client-tls',
      'INFCTL_WATCH_NAMESPACE',
      'INFCTL_WORKER_METRICS_ADDRESS',
      'INFCTL_WORKER_MAX_CACHED_WORKFLOWS',
      'INFCTL_WORKER_STICKY_QUEUE_TIMEOUT',
      'INFCTL_WORKER_REUSE_V8_CONTEXT',
      'path: /healthz',
      'minAvailable: 1',
    ])
      assert.ok(all.includes(text), `every-option render lacks ${text}`);
  });

  it('probes /healthz and /readyz on a port named metrics where each process listens (9090, 9091 by default)', () => {
    const defaults = renderedContainers(
      chart.helm(['template', chart.release, CHART_DIR, '--set', 'temporal.address=temporal:7233']).stdout,
    );
    assertProbes(defaults.controller, 'controller', 9090);
    assertProbes(defaults.worker, 'worker', 9091);
    const every = renderedContainers(
      chart.helm(['template', chart.release, CHART_DIR, '-f', EVERY_OPTION]).stdout,
    );
    assertProbes(every.controller, 'controller', 8081);
    assertProbes(every.worker, 'worker', 9464);
    const off = renderedContainers(
      chart.helm([
        'template',
        chart.release,
        CHART_DIR,
        '--set',
        'temporal.address=temporal:7233',
        '--set',
        'worker.livenessProbe=null',
      ]).stdout,
    );
    assert.equal(off.worker?.livenessProbe, undefined, 'a probe set to null is left out');
    assert.ok(off.worker?.readinessProbe, 'the other probe stays');
  });

  it('rejects values the schema does not allow', () => {
    const r = chart.helm([
      'template',
      chart.release,
      CHART_DIR,
      '--set',
      'temporal.address=t:7233',
      '--set',
      'worker.replica=3',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /replica/);
    const missing = chart.helm(['template', chart.release, CHART_DIR]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /temporal\.address is required/);
  });
});
