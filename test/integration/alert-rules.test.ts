/**
 * The alert rules (deploy/charts/inference-controller/rules/alerts.yaml) with Debian's promtool: the file is
 * valid, and every rule fires and stays quiet as its unit test (test/prometheus/alerts.test.yaml) says.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { binary } from '../../src/tools/components.ts';
import { components } from '../helpers/components.ts';
import { dashboardQueries } from '../helpers/prometheus.ts';

const RULES = 'deploy/charts/inference-controller/rules/alerts.yaml';
const TESTS = 'test/prometheus/alerts.test.yaml';
const CHART = 'deploy/charts/inference-controller';
const promtool = () => binary(components('prometheus'), 'prometheus', 'promtool');

describe('alert rules under promtool', () => {
  it('promtool check rules accepts the rules file', () => {
    const r = spawnSync(promtool(), ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: 6 rules found/);
  });

  it('promtool test rules passes, and every alert has a test that expects it to fire', () => {
    const r = spawnSync(promtool(), ['test', 'rules', TESTS], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const alerts = (
      parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] }
    ).groups.flatMap((g) => g.rules.map((rule) => rule.alert));
    const tests = parse(readFileSync(TESTS, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      tests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    assert.deepEqual(
      alerts.filter((a) => !firing.has(a)),
      [],
      'alerts without a test that expects them to fire',
    );
  });

  it('the chart renders the same groups as a PrometheusRule, and the engine PodMonitor, only when enabled', () => {
    const helm = binary(components('helm'), 'helm');
    const render = (...set: string[]) => {
      const r = spawnSync(helm, ['template', 't', CHART, '--set', 'temporal.address=temporal:7233', ...set], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return parseAllDocuments(r.stdout)
        .map((d) => d.toJSON() as { kind?: string; spec?: Record<string, unknown> } | null)
        .filter((d) => d !== null);
    };
    const kinds = (docs: ReturnType<typeof render>) => docs.map((d) => d.kind);
    assert.ok(!kinds(render()).includes('PrometheusRule'));
    assert.ok(!kinds(render()).includes('PodMonitor'));
    const docs = render(
      '--set',
      'monitoring.prometheusRule.enabled=true',
      '--set',
      'monitoring.enginePodMonitor.enabled=true',
    );
    const rule = docs.find((d) => d.kind === 'PrometheusRule');
    assert.deepEqual(rule?.spec, parse(readFileSync(RULES, 'utf8')));
    const monitor = docs.find((d) => d.kind === 'PodMonitor');
    assert.deepEqual(
      (monitor?.spec?.selector as { matchExpressions: { key: string }[] }).matchExpressions.map((e) => e.key),
      ['production-stack.vllm.ai/model', 'production-stack.vllm.ai/inference-service'],
    );
  });

  it('promtool parses every dashboard query and annotation (each as a recording rule)', () => {
    const queries = dashboardQueries(3600);
    const file = join(mkdtempSync(join(tmpdir(), 'infctl-dashboard-rules-')), 'dashboards.yaml');
    const rules = queries.map((q, i) => ({ record: `dashboard_query_${i}`, expr: q.expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
    const r = spawnSync(promtool(), ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
  });
});
