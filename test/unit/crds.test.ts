import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CATEGORY, GROUP, KINDS } from '../../src/api/index.ts';
import { staleCrds } from '../../src/cli/crds.ts';

type Schema = { [key: string]: unknown };

/** Collects the paths of nodes that break Kubernetes' structural-schema rules. */
function nonStructural(node: Schema, path: string, out: string[]): void {
  for (const banned of ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'definitions']) {
    if (banned in node) out.push(`${path}: ${banned}`);
  }
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties false`);
  if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true)
    out.push(`${path}: no type`);
  if (node.properties && node.additionalProperties) out.push(`${path}: properties and additionalProperties`);
  if (typeof node.description !== 'string' && !path.endsWith('.metadata') && !path.endsWith('.items')) {
    out.push(`${path}: no description`);
  }
  for (const [name, child] of Object.entries((node.properties as Record<string, Schema>) ?? {})) {
    nonStructural(child, `${path}.${name}`, out);
  }
  if (node.items) nonStructural(node.items as Schema, `${path}.items`, out);
  if (typeof node.additionalProperties === 'object')
    nonStructural(node.additionalProperties as Schema, `${path}.additionalProperties`, out);
}

async function loadCrds() {
  const files = (await readdir('crds')).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (f) => ({ file: f, crd: parse(await readFile(`crds/${f}`, 'utf8')) as Schema })),
  );
}

describe('crds/', () => {
  it('is exactly what src/api generates, here and in the Helm chart (run `make crds` when this fails)', async () => {
    assert.deepEqual(await staleCrds('crds'), []);
  });

  it('holds five CRDs of the group, one per kind', async () => {
    const crds = await loadCrds();
    assert.equal(crds.length, 5);
    const kinds = crds.map(({ crd }) => (crd.spec as { names: { kind: string } }).names.kind).sort();
    assert.deepEqual(kinds, KINDS.map((k) => k.kind).sort());
    for (const { crd } of crds) assert.equal((crd.spec as { group: string }).group, GROUP);
  });

  it('has structural schemas with a description on every field', async () => {
    for (const { file, crd } of await loadCrds()) {
      const version = (crd.spec as { versions: Schema[] }).versions[0] as Schema;
      const schema = (version.schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
      const problems: string[] = [];
      nonStructural(schema, file, problems);
      assert.deepEqual(problems, []);
    }
  });

  it('serves v1alpha1 with a status subresource, printer columns, the inference category and free short names', async () => {
    const taken = new Set(['isvc', 'ig', 'svc', 'po', 'deploy']);
    const seen = new Set<string>();
    for (const { file, crd } of await loadCrds()) {
      const spec = crd.spec as {
        names: { shortNames: string[]; categories: string[] };
        versions: Schema[];
        scope: string;
      };
      assert.equal(spec.scope, 'Namespaced');
      assert.deepEqual(spec.names.categories, [CATEGORY]);
      for (const short of spec.names.shortNames) {
        assert.ok(!taken.has(short), `${file}: short name ${short} collides`);
        assert.ok(!seen.has(short), `${file}: short name ${short} used twice`);
        seen.add(short);
      }
      const v = spec.versions[0] as {
        name: string;
        subresources: Schema;
        additionalPrinterColumns: { name: string }[];
      };
      assert.equal(v.name, 'v1alpha1');
      assert.deepEqual(v.subresources, { status: {} });
      assert.ok(
        v.additionalPrinterColumns.some((c) => c.name === 'Ready'),
        `${file}: no Ready column`,
      );
    }
  });

  it('puts rules the OpenAPI schema cannot express into CEL', async () => {
    const text = await readFile(`crds/${GROUP}_speculativedecodings.yaml`, 'utf8');
    assert.match(text, /self\.draftModel != self\.targetModel/);
    const gw = await readFile(`crds/${GROUP}_inferencegateways.yaml`, 'utf8');
    assert.match(
      gw,
      /x-kubernetes-list-map-keys: \[model\]/,
      'routes must be a map keyed by model so duplicates are rejected',
    );
  });
});
