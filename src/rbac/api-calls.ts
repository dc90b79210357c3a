/**
 * Finds the Kubernetes calls in the source, so a test can hold them against the permissions table: every
 * `kube.<method>(path)` on a KubeClient and every `watchCollection(kube, path)`, with the resource its path
 * names and the verb the API server authorizes it as.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GROUP, KINDS } from '../api/index.ts';
import type { PermissionRow, Verb } from './permissions.ts';

export interface ApiCall {
  file: string;
  line: number;
  /** The call as written, for messages. */
  text: string;
  apiGroup: string;
  /** Plural names (several when the code picks the kind at run time); `plural/status` for the subresource. */
  resources: string[];
  verbs: Verb[];
}

/** The client itself (its calls are the callers' calls) and this scanner. */
const SKIPPED = new Set(['src/kube/client.ts', 'src/kube/informer.ts', 'src/rbac/api-calls.ts']);

const METHOD_VERBS: Record<string, Verb[]> = {
  get: ['get'],
  find: ['get'],
  list: ['list'],
  // Server-side apply is a PATCH, and one that creates the object is also authorized as create (the e2e test
  // under the chart's RBAC found this).
  apply: ['patch', 'create'],
  mergePatch: ['patch'],
  jsonPatch: ['patch'],
  delete: ['delete'],
};
const HTTP_VERBS: Record<string, Verb> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** `paths.<helper>` of kube/client.ts -> the resource it addresses. */
const PATH_HELPERS: Record<string, { apiGroup: string; resource: string }> = {
  deployments: { apiGroup: 'apps', resource: 'deployments' },
  deployment: { apiGroup: 'apps', resource: 'deployments' },
  services: { apiGroup: '', resource: 'services' },
  service: { apiGroup: '', resource: 'services' },
  pods: { apiGroup: '', resource: 'pods' },
  allPods: { apiGroup: '', resource: 'pods' },
  secrets: { apiGroup: '', resource: 'secrets' },
  secret: { apiGroup: '', resource: 'secrets' },
  serviceAccount: { apiGroup: '', resource: 'serviceaccounts' },
  roleBinding: { apiGroup: 'rbac.authorization.k8s.io', resource: 'rolebindings' },
  events: { apiGroup: '', resource: 'events' },
};
const LITERAL_PATHS: [RegExp, { apiGroup: string; resource: string }][] = [
  [/^`\/api\/v1\/nodes\//, { apiGroup: '', resource: 'nodes' }],
];

/** The text of a call's arguments, from the `(` at `open` to its matching `)`. */
function argumentsAt(source: string, open: number): string {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return source.slice(open + 1, i);
  }
  return source.slice(open + 1);
}

/** Splits top-level arguments (commas outside brackets and template expressions). */
function splitArguments(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out.filter((a) => a.length > 0);
}

/** The definition of a local name in the file: `const name = ...;` or `function name(...) { ... }`. */
function definitionOf(source: string, name: string): string | undefined {
  const constant = new RegExp(`(?:const|let)\\s+${name}\\s*=\\s*([^;]+);`).exec(source);
  if (constant) return constant[1];
  const fn = new RegExp(`function\\s+${name}\\s*\\(`).exec(source);
  if (fn) return source.slice(fn.index, fn.index + 600);
  return undefined;
}

type Target = { apiGroup: string; resources: string[] };

/** The resource a path expression addresses, following local names a few steps. */
function resolvePath(source: string, expression: string, depth = 0): Target | undefined {
  const status = /\/status`$/.test(expression.trim());
  const withStatus = (t: Target): Target =>
    status ? { ...t, resources: t.resources.map((r) => `${r}/status`) } : t;
  const custom = /paths\.custom(?:All)?\(\s*([^,)]+)/.exec(expression);
  if (custom) {
    const plural = (custom[1] as string).trim();
    const literal = /^'([a-z]+)'$/.exec(plural);
    // A plural chosen at run time: the kinds the file names, or all five when it names none.
    const named = KINDS.map((k) => k.plural).filter((p) => source.includes(`'${p}'`));
    const resources = literal
      ? [literal[1] as string]
      : named.length > 0
        ? named
        : KINDS.map((k) => k.plural);
    return withStatus({ apiGroup: GROUP, resources });
  }
  const helper = /paths\.(\w+)\(/.exec(expression);
  if (helper && PATH_HELPERS[helper[1] as string]) {
    const { apiGroup, resource } = PATH_HELPERS[helper[1] as string] as {
      apiGroup: string;
      resource: string;
    };
    return withStatus({ apiGroup, resources: [resource] });
  }
  for (const [pattern, target] of LITERAL_PATHS)
    if (pattern.test(expression.trim())) return { apiGroup: target.apiGroup, resources: [target.resource] };
  if (depth >= 3) return undefined;
  // A local name (`path`, `${path}/status`) or a local function call (`resourcePath(key)`).
  const name = /^`?\$?\{?(\w+)/.exec(expression.trim())?.[1];
  const definition = name ? definitionOf(source, name) : undefined;
  if (!definition) return undefined;
  const resolved = resolvePath(source, definition, depth + 1);
  return resolved && withStatus(resolved);
}

const CALL =
  /(?:\bkube|this\.kube|this\.options\.kube)\.(get|find|list|apply|mergePatch|jsonPatch|delete|request)\s*(?:<[^()]*?>)?\(/g;
const WATCH = /\bwatchCollection\(/g;

/** Every Kubernetes call in one file; `unresolved` collects calls whose resource cannot be told. */
function callsIn(file: string, source: string, unresolved: string[]): ApiCall[] {
  const calls: ApiCall[] = [];
  const lineOf = (index: number) => source.slice(0, index).split('\n').length;
  for (const m of source.matchAll(CALL)) {
    const method = m[1] as string;
    const args = splitArguments(argumentsAt(source, (m.index as number) + m[0].length - 1));
    let verbs = METHOD_VERBS[method];
    let path = args[0];
    if (method === 'request') {
      const http = /^'([A-Z]+)'$/.exec(args[0] ?? '')?.[1] ?? '';
      verbs = http === 'GET' ? ['get'] : HTTP_VERBS[http] ? [HTTP_VERBS[http] as Verb] : undefined;
      path = args[1];
    }
    const target = path === undefined ? undefined : resolvePath(source, path);
    const where = `${file}:${lineOf(m.index as number)}`;
    if (!target || !verbs) {
      unresolved.push(`${where}: ${m[0]}${args.join(', ')})`);
      continue;
    }
    calls.push({ file, line: lineOf(m.index as number), text: `${m[0]}${path})`, ...target, verbs });
  }
  for (const m of source.matchAll(WATCH)) {
    const args = splitArguments(argumentsAt(source, (m.index as number) + m[0].length - 1));
    const target = args[1] === undefined ? undefined : resolvePath(source, args[1]);
    const where = `${file}:${lineOf(m.index as number)}`;
    if (!target) {
      unresolved.push(`${where}: watchCollection(${args.join(', ')})`);
      continue;
    }
    // An informer lists, then watches.
    calls.push({ file, line: lineOf(m.index as number), text: m[0], ...target, verbs: ['list', 'watch'] });
  }
  return calls;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every Kubernetes call under `root`/src. */
export function kubernetesCalls(root: string): { calls: ApiCall[]; unresolved: string[] } {
  const unresolved: string[] = [];
  const calls: ApiCall[] = [];
  for (const path of sourceFiles(join(root, 'src'))) {
    const file = relative(root, path);
    if (SKIPPED.has(file)) continue;
    calls.push(...callsIn(file, readFileSync(path, 'utf8'), unresolved));
  }
  return { calls, unresolved };
}

/** Calls no row naming their file allows: one line per missing permission. */
export function uncoveredCalls(calls: readonly ApiCall[], rows: readonly PermissionRow[]): string[] {
  const out: string[] = [];
  for (const call of calls) {
    const mine = rows.filter((r) => r.apiGroup === call.apiGroup && r.usedBy.includes(call.file));
    for (const resource of call.resources)
      for (const verb of call.verbs)
        if (!mine.some((r) => r.resources.includes(resource) && r.verbs.includes(verb)))
          out.push(
            `${call.file}:${call.line}: ${call.text} needs ${verb} on ${call.apiGroup || 'core'}/${resource}`,
          );
  }
  return out;
}

/** Permissions a row grants that no call in the files it names needs: one line per extra verb. */
export function unusedPermissions(calls: readonly ApiCall[], rows: readonly PermissionRow[]): string[] {
  const out: string[] = [];
  for (const row of rows.filter((r) => !r.impliedBy))
    for (const resource of row.resources)
      for (const verb of row.verbs) {
        const needed = calls.some(
          (c) =>
            row.usedBy.includes(c.file) &&
            c.apiGroup === row.apiGroup &&
            c.resources.includes(resource) &&
            c.verbs.includes(verb),
        );
        if (!needed)
          out.push(
            `${verb} on ${row.apiGroup || 'core'}/${resource}: no call in ${row.usedBy.join(', ')} needs it`,
          );
      }
  return out;
}
