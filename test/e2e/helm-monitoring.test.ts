/**
 * The chart's monitoring objects against the real prometheus-operator CRDs, generated offline by
 * `infctl dev tools` (controller-gen over the operator's Go API module) and installed into the local cluster:
 * without them a dry run fails naming the missing kind; with them every monitoring object is accepted
 * (--dry-run=server), and once installed each one selects what the product really runs: the metrics Services
 * the controller's and worker's pods, the gateway ServiceMonitor the Services the gateway workflow creates, the
 * PodMonitor the engine pods of a rendered InferenceService.
 */
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { CHART_DIR } from '../../src/cli/crds.ts';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import {
  helmFor,
  installMonitoringCrds,
  MONITORING_CRD_NAMES,
  ok,
  selectorArg,
  type Selector,
} from '../helpers/helm.ts';
import { eventually, kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';
import { applyEngineDeployment, deployGateway } from '../helpers/product-objects.ts';

const RELEASE = `mon-${process.pid}`;
const FULLNAME = `${RELEASE}-inference-controller`;
const NS = `e2e-monitoring-${process.pid}`;
/** Where the gateway and the engine pods the monitors must find run (another namespace than the chart's). */
const APPS_NS = `e2e-monitoring-apps-${process.pid}`;
const MONITORING_ON = [
  ...['serviceMonitor', 'enginePodMonitor', 'prometheusRule', 'dashboards'].flatMap((m) => [
    '--set',
    `monitoring.${m}.enabled=true`,
  ]),
  ...['--set', 'monitoring.serviceMonitor.labels.release=kube-prometheus-stack'],
  ...['--set', 'monitoring.dashboards.annotations.grafana_folder=Inference'],
];

const TEST_DASHBOARD = {
  title: 'Test only',
  uid: 'test-only',
  panels: [{ type: 'timeseries', title: 'Up' }],
};

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    selector?: Selector;
    endpoints?: { port: string }[];
    podMetricsEndpoints?: { port: string }[];
  };
  data?: Record<string, string>;
}

let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let helm: ReturnType<typeof helmFor>;
let home: string;
/** A copy of the chart; holds a dashboard of this test's when the repository has none yet. */
let chart: string;

const docs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
const template = (...args: string[]) =>
  helm(['template', RELEASE, chart, '-n', NS, '--set', 'temporal.address=temporal:7233', ...args]);
const installChart = (temporalAddress: string, ...args: string[]) =>
  helm(['install', RELEASE, chart, '-n', NS, '--set', `temporal.address=${temporalAddress}`, ...args]);
const render = (...args: string[]) => {
  const r = template(...args);
  ok(r, `helm template ${args.join(' ')}`);
  return docs(r.stdout);
};
interface ServiceObject {
  spec: {
    selector: Record<string, string>;
    ports: { name: string; targetPort: string | number; protocol: string }[];
  };
}
interface PodObject {
  metadata: { name: string };
  status: { podIP?: string };
  spec: { containers: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[] };
}

/**
 * The Service reaches its pods as the control plane's endpointslice controller sees it. That controller runs
 * here, but it cannot write the EndpointSlice: kwok gives pods loopback IPs (127.244.0.0/16, so nothing on this
 * fake cluster reaches a network) and the API server refuses an EndpointSlice address in 127.0.0.0/8
 * (ValidateEndpointIP: "may not be in the loopback range"). What it does leave is a Warning Event
 * FailedToUpdateEndpointSlices on the Service quoting the addresses it tried to publish: the pods it selected.
 * The named targetPort is resolved as the controller's FindPort does (a container port of that name and
 * protocol), since the refused slice's ports are never visible. Where pod IPs are not loopback, the slice
 * itself must list the pods with the port resolved.
 */
async function assertServiceReachesPods(name: string, namespace = NS): Promise<void> {
  const r = kubectl(['get', 'service', name, '-n', namespace, '-o', 'json']);
  ok(r, `kubectl get service ${name}`);
  const service = JSON.parse(r.stdout) as ServiceObject;
  const pods = await eventually(`pods of ${name} with an IP`, () => {
    const items = list<PodObject>([
      'get',
      'pods',
      '-n',
      namespace,
      '-l',
      selectorArg({ matchLabels: service.spec.selector }),
    ]);
    return items.length > 0 && items.every((p) => p.status.podIP) ? items : undefined;
  });
  for (const pod of pods)
    for (const port of service.spec.ports)
      assert.ok(
        typeof port.targetPort === 'number' ||
          pod.spec.containers.some((c) =>
            c.ports?.some((p) => p.name === port.targetPort && (p.protocol ?? 'TCP') === port.protocol),
          ),
        `${name}: pod ${pod.metadata.name} has no ${port.protocol} container port named ${port.targetPort}`,
      );
  const ips = pods.map((p) => p.status.podIP!);
  const seen = await eventually(
    `the endpointslice controller publishing ${ips.join(', ')} for ${name}`,
    () => {
      // Where pod IPs are not loopback the slice itself lists them, with the named port resolved.
      const slices = list<{
        endpoints?: { addresses: string[] }[];
        ports?: { name?: string; port?: number }[];
      }>(['get', 'endpointslices', '-n', namespace, '-l', `kubernetes.io/service-name=${name}`]);
      const published = slices.filter((sl) =>
        service.spec.ports.every((sp) => sl.ports?.some((p) => p.name === sp.name && p.port)),
      );
      if (ips.every((ip) => published.some((sl) => sl.endpoints?.some((e) => e.addresses.includes(ip)))))
        return 'slice';
      const events = list<{ message: string }>([
        'get',
        'events',
        '-n',
        namespace,
        '--field-selector',
        `involvedObject.kind=Service,involvedObject.name=${name},reason=FailedToUpdateEndpointSlices`,
      ]).map((e) => e.message);
      const refused = events.filter((m) => /may not be in the loopback range/.test(m));
      return ips.every((ip) => refused.some((m) => m.includes(`"${ip}"`)))
        ? 'refused as loopback'
        : undefined;
    },
    30_000,
  );
  console.log(
    `# ${name} selects ${pods.map((p) => `${p.metadata.name} (${p.status.podIP})`).join(', ')}: ${seen}`,
  );
}

let caches = 0;
const freshCache = () => join(home, `kube-cache-${++caches}`);
const yamlOf = (all: Doc[]) => all.map((d) => `---\n${stringify(d)}`).join('');
const named = (all: Doc[], kind: string, name: string) => {
  const d = all.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(d, `no ${kind} ${name} in ${all.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return d;
};
const list = <T>(args: string[]) => {
  const r = kubectl([...args, '-o', 'json']);
  ok(r, `kubectl ${args.join(' ')}`);
  return (JSON.parse(r.stdout) as { items: T[] }).items;
};

describe('the chart monitoring objects against the generated prometheus-operator CRDs', () => {
  before(async () => {
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    home = mkdtempSync(join(tmpdir(), 'infctl-helm-monitoring-'));
    helm = helmFor(env, home);
    chart = join(home, 'inference-controller');
    cpSync(CHART_DIR, chart, { recursive: true });
    const dashboards = join(chart, 'dashboards');
    if (!existsSync(dashboards) || !readdirSync(dashboards).some((f) => f.endsWith('.json'))) {
      // The repository has no dashboard yet: one of this test's, in this copy of the chart only.
      mkdirSync(dashboards, { recursive: true });
      writeFileSync(join(dashboards, 'test_only.json'), JSON.stringify(TEST_DASHBOARD, null, 2));
    }
    for (const ns of [NS, APPS_NS]) ok(kubectl(['create', 'namespace', ns]), `namespace ${ns}`);
  });
  after(async () => {
    helm(['uninstall', RELEASE, '-n', NS, '--wait=false']);
    for (const ns of [NS, APPS_NS]) kubectl(['delete', 'namespace', ns, '--wait=false']);
    rmSync(home, { recursive: true, force: true });
    await releaseDevEnvironment();
  });

  it('without the monitoring CRDs, applying the monitoring objects fails naming the missing kind', () => {
    ok(
      kubectl(['delete', 'crd', '--ignore-not-found', '--wait', ...MONITORING_CRD_NAMES]),
      'remove the monitoring CRDs',
    );
    // A fresh discovery cache each time: one from before the CRDs were deleted would still list their kinds.
    const dryRun = (docs: Doc[]) =>
      kubectl(['apply', '--dry-run=server', '-n', NS, '--cache-dir', freshCache(), '-f', '-'], yamlOf(docs));
    const refused = dryRun(render(...MONITORING_ON));
    assert.notEqual(refused.code, 0, 'the dry run passed without the CRDs');
    const noMatch =
      /no matches for kind "(ServiceMonitor|PodMonitor|PrometheusRule)" in version "monitoring\.coreos\.com\/v1"/;
    assert.match(refused.stderr, noMatch);
    assert.match(refused.stderr, /ensure CRDs are installed first/);
    const install = installChart('t:7233', ...MONITORING_ON);
    assert.notEqual(install.code, 0, 'helm install passed without the CRDs');
    assert.match(install.stderr, noMatch);
    assert.match(install.stderr, /ensure CRDs are installed first/);
    console.log(`# without the CRDs, helm install: ${install.stderr.match(noMatch)?.[0]}`);
    helm(['uninstall', RELEASE, '-n', NS]); // in case helm kept a failed release
    // With monitoring off (the default) nothing needs them.
    ok(dryRun(render()), 'the default values without the CRDs');
  });

  it('installs the generated CRDs: ServiceMonitor, PodMonitor and PrometheusRule served as monitoring.coreos.com/v1', async () => {
    installMonitoringCrds(kubectl);
    const served = kubectl([
      'api-resources',
      '--api-group=monitoring.coreos.com',
      '-o',
      'name',
      '--cache-dir',
      freshCache(),
    ]);
    ok(served, 'api-resources');
    for (const name of MONITORING_CRD_NAMES)
      assert.ok(served.stdout.split('\n').includes(name), served.stdout);
    // The schema is published (the OpenAPI document follows establishment by a moment): a deep field explained.
    const explain = [
      'explain',
      'servicemonitors.spec.endpoints.relabelings',
      '--api-version=monitoring.coreos.com/v1',
    ];
    await eventually('kubectl explain of a ServiceMonitor field', () => {
      const r = kubectl([...explain, '--cache-dir', freshCache()]);
      return r.code === 0 && /sourceLabels/.test(r.stdout) ? r : undefined;
    });
  });

  it('renders every monitoring object with monitoring on, and the API server accepts them (--dry-run=server)', () => {
    const all = render(...MONITORING_ON);
    const count = (kind: string) => all.filter((d) => d.kind === kind).length;
    const dashboardFiles = readdirSync(join(chart, 'dashboards')).filter((f) => f.endsWith('.json'));
    assert.deepEqual(
      ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Service', 'ConfigMap'].map((k) => [k, count(k)]),
      [
        ['ServiceMonitor', 3],
        ['PodMonitor', 1],
        ['PrometheusRule', 1],
        ['Service', 2],
        ['ConfigMap', dashboardFiles.length],
      ],
    );
    for (const d of all.filter((x) => x.kind === 'ServiceMonitor'))
      assert.equal(
        d.metadata.labels?.release,
        'kube-prometheus-stack',
        `${d.metadata.name} carries the extra labels`,
      );
    // One ConfigMap per dashboard file, labelled for the Grafana sidecar, holding the file's JSON.
    for (const file of dashboardFiles) {
      const cm = all.find((d) => d.kind === 'ConfigMap' && d.data?.[file] !== undefined);
      assert.ok(cm, `no ConfigMap holds ${file}`);
      assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
      assert.equal(cm.metadata.annotations?.grafana_folder, 'Inference');
      assert.deepEqual(
        JSON.parse(cm.data![file]!),
        JSON.parse(readFileSync(join(chart, 'dashboards', file), 'utf8')),
      );
    }
    ok(
      kubectl(['apply', '--dry-run=server', '-n', NS, '-f', '-'], yamlOf(all)),
      'kubectl apply --dry-run=server with monitoring on',
    );
    // Off by default: no monitoring object, no metrics Service, no dashboard.
    assert.deepEqual(
      render()
        .map((d) => d.kind)
        .filter((k) =>
          ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Service', 'ConfigMap'].includes(k),
        ),
      [],
    );
  });

  it('rejects a dashboard that is not JSON and a scrape interval that is not a duration, naming them', () => {
    const broken = join(chart, 'dashboards', 'broken.json');
    writeFileSync(broken, '{ "title": "half written", ');
    try {
      const r = template('--set', 'monitoring.dashboards.enabled=true');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /dashboards\/broken\.json is not a Grafana dashboard/);
    } finally {
      rmSync(broken);
    }
    const r = template('--set', 'monitoring.serviceMonitor.interval=often');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /interval/);
  });

  it('installed, each monitor selects what the product runs: the metrics Services, gateway Services, engine pods', async () => {
    const all = render(...MONITORING_ON);
    ok(
      installChart(
        env.temporalAddress,
        '--set',
        'worker.replicas=1',
        ...MONITORING_ON,
        '--wait',
        '--timeout',
        '120s',
      ),
      'helm install with monitoring on',
    );
    for (const component of ['controller', 'worker']) {
      const monitor = named(all, 'ServiceMonitor', `${FULLNAME}-${component}`);
      const services = list<{ metadata: { name: string } }>([
        'get',
        'services',
        '-n',
        NS,
        '-l',
        selectorArg(monitor.spec!.selector!),
      ]);
      assert.deepEqual(
        services.map((s) => s.metadata.name),
        [`${FULLNAME}-${component}-metrics`],
      );
      assert.deepEqual(
        monitor.spec?.endpoints?.map((e) => e.port),
        ['metrics'],
      );
      await assertServiceReachesPods(`${FULLNAME}-${component}-metrics`);
    }

    // A gateway as the InferenceGateway workflow deploys it: the ServiceMonitor selects its Service and port.
    await deployGateway(env.kubeconfig, kubectl, APPS_NS, 'mon-gateway', `${FULLNAME}-gateway`);
    const gatewayMonitor = named(all, 'ServiceMonitor', `${FULLNAME}-gateways`);
    const gateways = list<{
      metadata: { name: string; namespace: string };
      spec: { ports: { name: string }[] };
    }>(['get', 'services', '-n', APPS_NS, '-l', selectorArg(gatewayMonitor.spec!.selector!)]);
    assert.deepEqual(
      gateways.map((s) => s.metadata.name),
      ['mon-gateway-gateway'],
    );
    for (const e of gatewayMonitor.spec?.endpoints ?? [])
      assert.ok(
        gateways[0]!.spec.ports.some((p) => p.name === e.port),
        `the gateway Service has no port ${e.port}`,
      );
    await assertServiceReachesPods('mon-gateway-gateway', APPS_NS);

    // An InferenceService's engine Deployment as the runtime renders it: the PodMonitor selects its pods' port.
    applyEngineDeployment(kubectl, APPS_NS, 'mon-engine');
    const podMonitor = named(all, 'PodMonitor', `${FULLNAME}-engines`);
    const pods = await eventually('engine pods selected by the PodMonitor', () => {
      const items = list<{
        metadata: { namespace: string };
        spec: { containers: { ports?: { name: string }[] }[] };
      }>(['get', 'pods', '-n', APPS_NS, '-l', selectorArg(podMonitor.spec!.selector!)]);
      return items.length === 1 ? items : undefined;
    });
    for (const e of podMonitor.spec?.podMetricsEndpoints ?? [])
      assert.ok(
        pods[0]!.spec.containers.some((c) => c.ports?.some((p) => p.name === e.port)),
        `engine pods have no port ${e.port}`,
      );
  });
});
