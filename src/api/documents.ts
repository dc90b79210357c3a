import { LineCounter, parseAllDocuments, isMap, isNode, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { API_VERSION, GROUP } from './common.ts';
import type { InferenceCache } from './inference-cache.ts';
import type { InferenceGateway } from './inference-gateway.ts';
import type { InferenceService } from './inference-service.ts';
import { KINDS, kindInfo } from './kinds.ts';
import type { PrefillDecodingDisaggregation } from './prefill-decoding-disaggregation.ts';
import { keyOf, referencesFrom, sameModel, servedModel, type Reference } from './references.ts';
import type { SpeculativeDecoding } from './speculative-decoding.ts';

export type Severity = 'error' | 'warning';

export interface Problem {
  severity: Severity;
  file: string;
  /** 1-based position of the document in its file. */
  document: number;
  line?: number;
  kind?: string;
  name?: string;
  /** Dotted field path, for example `spec.routes[1].model`; empty for the document itself. */
  path: string;
  message: string;
}

export type AnyResource =
  InferenceGateway | InferenceService | InferenceCache | SpeculativeDecoding | PrefillDecodingDisaggregation;

/** The identity of a document that names a kind and a name, valid or not. */
export interface ResourceIdentity {
  kind: string;
  namespace: string;
  name: string;
}

export interface ParsedResource {
  file: string;
  document: number;
  resource: AnyResource;
  /** Line of a field path in the source, for reference problems found later. */
  lineOf: (path: (string | number)[]) => number | undefined;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** `file:document: kind/name: field.path: what is wrong` — the form every problem is reported in. */
export function formatProblem(p: Problem): string {
  const where = `${p.file}:${p.document}`;
  const what = p.kind || p.name ? `${p.kind ?? '?'}/${p.name ?? '?'}` : '-';
  const line = p.line !== undefined ? ` (line ${p.line})` : '';
  const prefix = p.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${what}: ${p.path || '(document)'}: ${prefix}${p.message}${line}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  return String(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

/** Messages for zod's generic issues, phrased for a resource author; schema-specific messages win. */
const issueMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected =
        issue.expected === 'int' ? 'an integer' : `a ${issue.expected === 'array' ? 'list' : issue.expected}`;
      return `must be ${expected}, not ${typeName(issue.input)} ${describeValue(issue.input)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${describeValue(issue.input)})`;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'must not be empty';
      if (issue.origin === 'array') return `must have at least ${issue.minimum} item(s)`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum} (got ${describeValue(issue.input)})`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `must have at most ${issue.maximum} item(s)`;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum} (got ${describeValue(issue.input)})`;
    default:
      return undefined;
  }
};

export type ValidationResult<T> =
  { ok: true; value: T } | { ok: false; problems: { path: (string | number)[]; message: string }[] };

function flattenIssues(
  issues: readonly z.core.$ZodIssue[],
): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      out.push({ path, message: issue.message });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Validates one object against its kind's schema; on success the value carries every default. */
export function validateResource(object: unknown): ValidationResult<AnyResource> {
  const header = object as { apiVersion?: unknown; kind?: unknown } | null;
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    return { ok: false, problems: [{ path: [], message: 'a resource must be a YAML mapping' }] };
  }
  if (header.kind === undefined) return { ok: false, problems: [{ path: ['kind'], message: 'is required' }] };
  const info = typeof header.kind === 'string' ? kindInfo(header.kind) : undefined;
  if (!info) {
    return {
      ok: false,
      problems: [
        {
          path: ['kind'],
          message: `unknown kind ${describeValue(header.kind)}: expected one of ${KINDS.map((k) => k.kind).join(', ')}`,
        },
      ],
    };
  }
  if (header.apiVersion !== API_VERSION) {
    const hint =
      typeof header.apiVersion === 'string' && header.apiVersion.startsWith(`${GROUP}/`)
        ? `unknown version of ${GROUP}`
        : 'unknown API version';
    return {
      ok: false,
      problems: [
        {
          path: ['apiVersion'],
          message: `${hint} ${describeValue(header.apiVersion)}: ${info.kind} is served as "${API_VERSION}"`,
        },
      ],
    };
  }
  const result = info.schema.safeParse(object, { error: issueMessage });
  if (result.success) return { ok: true, value: result.data as AnyResource };
  return { ok: false, problems: flattenIssues(result.error.issues) };
}

function nodeLine(doc: Document, path: (string | number)[], counter: LineCounter): number | undefined {
  // Walk up to the deepest node that exists: a missing field is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && (node as Node).range) {
      let offset = (node as Node).range?.[0] ?? 0;
      // For a mapping value, point at its key's line rather than the first nested line.
      if (depth > 0 && isMap(doc.getIn(path.slice(0, depth - 1), true))) {
        const parent = doc.getIn(path.slice(0, depth - 1), true);
        if (isMap(parent)) {
          const pair = parent.items.find(
            (item) => isNode(item.key) && (item.key as { value?: unknown }).value === path[depth - 1],
          );
          if (pair && isNode(pair.key) && pair.key.range) offset = pair.key.range[0];
        }
      }
      return counter.linePos(offset).line;
    }
  }
  return undefined;
}

/** Parses and validates every document of one YAML text. */
export function validateText(
  file: string,
  text: string,
): { resources: ParsedResource[]; invalid: ResourceIdentity[]; problems: Problem[] } {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false });
  const resources: ParsedResource[] = [];
  const invalid: ResourceIdentity[] = [];
  const problems: Problem[] = [];
  if (!Array.isArray(docs)) {
    // An empty stream.
    return { resources, invalid, problems };
  }
  docs.forEach((doc, i) => {
    const document = i + 1;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        problems.push({
          severity: 'error',
          file,
          document,
          line: err.linePos?.[0]?.line,
          path: '',
          message: `invalid YAML: ${err.message.split('\n')[0]}`,
        });
      }
      return;
    }
    const object: unknown = doc.toJS({ maxAliasCount: 100 });
    if (object === null || object === undefined) return; // an empty document, e.g. a trailing `---`
    const meta = (object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }) ?? {};
    const kind = typeof meta.kind === 'string' ? meta.kind : undefined;
    const name = typeof meta.metadata?.name === 'string' ? meta.metadata.name : undefined;
    const namespace = typeof meta.metadata?.namespace === 'string' ? meta.metadata.namespace : 'default';
    const result = validateResource(object);
    const lineOf = (path: (string | number)[]) => nodeLine(doc, path, counter);
    if (result.ok) {
      resources.push({ file, document, resource: result.value, lineOf });
      return;
    }
    if (kind !== undefined && name !== undefined) invalid.push({ kind, namespace, name });
    for (const p of result.problems) {
      problems.push({
        severity: 'error',
        file,
        document,
        line: lineOf(p.path),
        kind,
        name,
        path: formatPath(p.path),
        message: p.message,
      });
    }
  });
  return { resources, invalid, problems };
}

const namespaceOf = (r: AnyResource) => r.metadata.namespace ?? 'default';
const keyIn = (kind: string, namespace: string, name: string) => keyOf({ kind, namespace, name });

/** What `infctl validate` says when a reference names a resource of another model. */
function otherModel(ref: Reference, has: string | undefined): string {
  const named = `${ref.edge.to} "${ref.name}"`;
  switch (ref.edge.to) {
    case 'InferenceCache':
      return `${named} manages model "${has}", but this service serves "${ref.model}"`;
    case 'SpeculativeDecoding':
      return `${named} targets model "${has}", not "${ref.model}"`;
    case 'InferenceService':
      return `${named} serves model "${has}", not "${ref.model}"`;
    default:
      return `${named} is for model "${has}", not "${ref.model}"`;
  }
}

/**
 * Checks references between resources of one set (the edges of references.ts). In a cluster a dangling
 * reference is a condition to report, not a rejection, so these are warnings unless `strict`. Documents that
 * failed validation are named in `invalid` so that references to them are not reported as missing on top of
 * their own errors.
 */
export function checkReferences(
  resources: readonly ParsedResource[],
  options: { strict?: boolean; invalid?: readonly ResourceIdentity[] } = {},
): Problem[] {
  const severity: Severity = options.strict ? 'error' : 'warning';
  const problems: Problem[] = [];
  const invalid = new Set((options.invalid ?? []).map((r) => keyOf(r)));
  const index = new Map<string, ParsedResource>();
  for (const parsed of resources) {
    const r = parsed.resource;
    const key = keyIn(r.kind, namespaceOf(r), r.metadata.name);
    const first = index.get(key);
    if (first) {
      problems.push({
        severity: 'error',
        file: parsed.file,
        document: parsed.document,
        kind: r.kind,
        name: r.metadata.name,
        path: 'metadata.name',
        message: `defined twice in namespace "${namespaceOf(r)}" (also ${first.file}:${first.document})`,
        line: parsed.lineOf(['metadata', 'name']),
      });
    } else index.set(key, parsed);
  }

  for (const parsed of resources) {
    const r = parsed.resource;
    const ns = namespaceOf(r);
    for (const ref of referencesFrom(r.kind, r.spec)) {
      const report = (message: string) =>
        problems.push({
          severity,
          file: parsed.file,
          document: parsed.document,
          kind: r.kind,
          name: r.metadata.name,
          path: formatPath(ref.path),
          message,
          line: parsed.lineOf(ref.path),
        });
      const key = keyIn(ref.edge.to, ns, ref.name);
      const target = index.get(key)?.resource;
      if (!target) {
        if (!invalid.has(key))
          report(`${ref.edge.to} "${ref.name}" is not defined in namespace "${ns}" among the given files`);
      } else if (!sameModel(ref, target.spec)) report(otherModel(ref, servedModel(ref.edge.to, target.spec)));
    }
  }
  return problems;
}
