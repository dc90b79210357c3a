/**
 * A structural check of generated CustomResourceDefinitions (the prometheus-operator monitoring CRDs that
 * `infctl dev tools` generates with controller-gen): each file is one apiextensions.k8s.io/v1 CRD of the
 * expected group and kind, serving the expected version with a schema, and exactly one version is stored.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ExpectedCrd {
  /** The file in the folder, as controller-gen names it: `<group>_<plural>.yaml`. */
  file: string;
  kind: string;
}

interface CrdVersion {
  name?: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: { type?: string; properties?: Record<string, unknown> } };
}

interface Crd {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: { group?: string; names?: { kind?: string; plural?: string }; versions?: CrdVersion[] };
}

/** What is wrong with one CRD document (empty when nothing is), each problem naming the file. */
export function crdProblems(
  file: string,
  text: string,
  group: string,
  version: string,
  kind: string,
): string[] {
  const docs = parseAllDocuments(text)
    .map((d) => d.toJS() as Crd | null)
    .filter((d): d is Crd => d !== null);
  if (docs.length !== 1) return [`${file}: ${docs.length} YAML documents, expected one CRD`];
  const crd = docs[0] as Crd;
  const problems: string[] = [];
  const at = (what: string) => problems.push(`${file}: ${what}`);
  if (crd.apiVersion !== 'apiextensions.k8s.io/v1' || crd.kind !== 'CustomResourceDefinition')
    at(`is ${crd.apiVersion}/${crd.kind}, not apiextensions.k8s.io/v1 CustomResourceDefinition`);
  if (crd.spec?.group !== group) at(`group is ${crd.spec?.group}, expected ${group}`);
  if (crd.spec?.names?.kind !== kind) at(`kind is ${crd.spec?.names?.kind}, expected ${kind}`);
  const plural = crd.spec?.names?.plural;
  if (crd.metadata?.name !== `${plural}.${group}`)
    at(`metadata.name is ${crd.metadata?.name}, expected ${plural}.${group}`);
  const versions = crd.spec?.versions ?? [];
  const served = versions.find((v) => v.name === version);
  if (!served) at(`has no version ${version} (has ${versions.map((v) => v.name).join(', ') || 'none'})`);
  else {
    if (served.served !== true) at(`version ${version} is not served`);
    const schema = served.schema?.openAPIV3Schema;
    if (schema?.type !== 'object' || !schema.properties?.spec)
      at(`version ${version} has no structural schema with a spec property`);
  }
  const stored = versions.filter((v) => v.storage === true).length;
  if (stored !== 1) at(`${stored} storage versions, expected exactly one`);
  return problems;
}

/** Checks every expected CRD file in `dir`; throws one error listing every problem. */
export function checkCrdFolder(
  dir: string,
  group: string,
  version: string,
  expected: readonly ExpectedCrd[],
): void {
  const problems = expected.flatMap(({ file, kind }) => {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      return [`${file}: cannot be read in ${dir}: ${(err as Error).message}`];
    }
    return crdProblems(file, text, group, version, kind);
  });
  if (problems.length > 0)
    throw new Error(`the generated CRDs in ${dir} are not what the chart needs:\n  ${problems.join('\n  ')}`);
}
