import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { checkCrdFolder, crdProblems } from '../../src/tools/crd-check.ts';

const GROUP = 'monitoring.coreos.com';
const FILE = 'monitoring.coreos.com_servicemonitors.yaml';

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; plural: string };
    scope: string;
    versions: { name: string; served: boolean; storage: boolean; schema?: unknown }[];
  };
}

/** A CRD as controller-gen writes one, with `change` applied to it. */
function crd(change: (c: Doc) => void = () => undefined): string {
  const c: Doc = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `servicemonitors.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: 'ServiceMonitor', plural: 'servicemonitors' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } },
        },
      ],
    },
  };
  change(c);
  return `---\n${stringify(c)}`;
}

const problems = (text: string) => crdProblems(FILE, text, GROUP, 'v1', 'ServiceMonitor');

describe('the structural check of generated CRDs', () => {
  it('accepts a served v1 CRD of the expected group and kind', () => {
    assert.deepEqual(problems(crd()), []);
  });

  it('names the file and what is wrong: version not served, wrong kind, wrong group, no schema', () => {
    assert.deepEqual(
      problems(
        crd((c) => {
          c.spec.versions[0]!.served = false;
        }),
      ),
      [`${FILE}: version v1 is not served`],
    );
    assert.deepEqual(
      problems(
        crd((c) => {
          c.spec.names.kind = 'PodMonitor';
        }),
      ),
      [`${FILE}: kind is PodMonitor, expected ServiceMonitor`],
    );
    assert.match(
      problems(
        crd((c) => {
          c.spec.group = 'example.com';
        }),
      ).join('\n'),
      /group is example\.com, expected monitoring\.coreos\.com/,
    );
    assert.deepEqual(
      problems(
        crd((c) => {
          delete c.spec.versions[0]!.schema;
        }),
      ),
      [`${FILE}: version v1 has no structural schema with a spec property`],
    );
  });

  it('wants the version itself and exactly one storage version', () => {
    assert.deepEqual(
      problems(
        crd((c) => {
          c.spec.versions[0]!.name = 'v1beta1';
        }),
      ),
      [`${FILE}: has no version v1 (has v1beta1)`],
    );
    assert.deepEqual(
      problems(
        crd((c) => {
          c.spec.versions.push({ ...c.spec.versions[0]!, name: 'v2' });
        }),
      ),
      [`${FILE}: 2 storage versions, expected exactly one`],
    );
  });

  it('wants one CRD per file, not another kind of object', () => {
    assert.deepEqual(problems(`${crd()}${crd()}`), [`${FILE}: 2 YAML documents, expected one CRD`]);
    assert.match(
      problems(
        crd((c) => {
          c.kind = 'ConfigMap';
        }),
      )[0] ?? '',
      /is apiextensions\.k8s\.io\/v1\/ConfigMap, not apiextensions\.k8s\.io\/v1 CustomResourceDefinition/,
    );
  });

  it('checks a folder: a missing file and a broken one in one error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'infctl-crd-check-'));
    try {
      writeFileSync(
        join(dir, FILE),
        crd((c) => void (c.spec.versions[0]!.served = false)),
      );
      const expected = [
        { file: FILE, kind: 'ServiceMonitor' },
        { file: 'monitoring.coreos.com_podmonitors.yaml', kind: 'PodMonitor' },
      ];
      assert.throws(
        () => checkCrdFolder(dir, GROUP, 'v1', expected),
        (err: Error) =>
          err.message.includes(`${FILE}: version v1 is not served`) &&
          err.message.includes('monitoring.coreos.com_podmonitors.yaml: cannot be read'),
      );
      writeFileSync(join(dir, FILE), crd());
      assert.doesNotThrow(() => checkCrdFolder(dir, GROUP, 'v1', expected.slice(0, 1)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
