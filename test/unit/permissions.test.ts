import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CHART_DIR } from '../../src/cli/crds.ts';
import { kubernetesCalls, uncoveredCalls, unusedPermissions } from '../../src/rbac/api-calls.ts';
import { CLUSTER_ROLES_TEMPLATE, renderClusterRoles } from '../../src/rbac/cluster-roles.ts';
import { COMPONENTS, PERMISSIONS, type PermissionRow } from '../../src/rbac/permissions.ts';

const ALL_ROWS = COMPONENTS.flatMap((c) => PERMISSIONS[c]);
const { calls, unresolved } = kubernetesCalls('.');

describe('the permissions table (src/rbac/permissions.ts)', () => {
  it('can tell the resource of every Kubernetes call in src/', () => {
    assert.deepEqual(unresolved, []);
    assert.ok(calls.length >= 20, `only ${calls.length} calls found: the scanner is missing them`);
  });

  it('allows every call the code makes, in a row naming the calling file', () => {
    assert.deepEqual(uncoveredCalls(calls, ALL_ROWS), []);
  });

  it('allows nothing the code does not call (least privilege)', () => {
    assert.deepEqual(unusedPermissions(calls, ALL_ROWS), []);
  });

  it('names only files that exist', () => {
    for (const row of ALL_ROWS) for (const file of row.usedBy) assert.ok(existsSync(file), file);
  });

  it('fails the check when one verb is removed', () => {
    const withoutWatch: PermissionRow[] = PERMISSIONS.controller.map((r) => ({
      ...r,
      verbs: r.verbs.filter((v) => v !== 'watch'),
    }));
    const missing = uncoveredCalls(
      calls.filter((c) => c.file === 'src/controller/controller.ts'),
      withoutWatch,
    );
    assert.ok(missing.length > 0);
    assert.ok(missing.every((m) => m.includes('needs watch on production-stack.vllm.ai/')));
  });

  it('gives the gateway read access to gateways and services only', () => {
    assert.deepEqual(
      PERMISSIONS.gateway.map((r) => [r.apiGroup, r.resources, r.verbs]),
      [['production-stack.vllm.ai', ['inferencegateways', 'inferenceservices'], ['list', 'watch']]],
    );
  });

  it('is what the chart ClusterRoles are generated from (run `make crds` when this fails)', () => {
    assert.equal(readFileSync(`${CHART_DIR}/${CLUSTER_ROLES_TEMPLATE}`, 'utf8'), renderClusterRoles());
  });
});
