import { GROUP, KINDS } from '../api/index.ts';
import { COMPONENTS, PERMISSIONS, USER_ROLES, type PermissionRow } from './permissions.ts';

/** The chart template the ClusterRoles are generated into, relative to the chart. */
export const CLUSTER_ROLES_TEMPLATE = 'templates/clusterroles.yaml';

const HEADER = `# Generated from src/rbac/permissions.ts by \`make crds\`; do not edit.\n`;

/** The Helm expression of the release's full name, for `{fullname}` in resourceNames. */
const FULLNAME = '{{ include "inference-controller.fullname" . }}';

/** The rows as Kubernetes PolicyRules; `fullname` replaces `{fullname}` in resource names. */
export function policyRules(
  rows: readonly PermissionRow[],
  fullname = FULLNAME,
): { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[] {
  return rows.map((r) => ({
    apiGroups: [r.apiGroup],
    resources: [...r.resources],
    verbs: [...r.verbs],
    ...(r.resourceNames
      ? { resourceNames: r.resourceNames.map((n) => n.replace('{fullname}', fullname)) }
      : {}),
  }));
}

function rules(rows: readonly PermissionRow[]): string {
  return policyRules(rows)
    .map(
      (r) =>
        `  - apiGroups: [${r.apiGroups.map((g) => JSON.stringify(g)).join(', ')}]\n` +
        `    resources: [${r.resources.join(', ')}]\n` +
        `    verbs: [${r.verbs.join(', ')}]\n` +
        (r.resourceNames ? `    resourceNames: [${r.resourceNames.map((n) => `"${n}"`).join(', ')}]\n` : ''),
    )
    .join('');
}

/** One ClusterRole named `<release>-<suffix>`, with extra label lines. */
function clusterRole(suffix: string, labels: string[], rows: readonly PermissionRow[]): string {
  return (
    `apiVersion: rbac.authorization.k8s.io/v1\n` +
    `kind: ClusterRole\n` +
    `metadata:\n` +
    `  name: {{ include "inference-controller.fullname" . }}-${suffix}\n` +
    `  labels:\n` +
    `    {{- include "inference-controller.labels" . | nindent 4 }}\n` +
    labels.map((l) => `    ${l}\n`).join('') +
    `rules:\n${rules(rows)}`
  );
}

/** The Helm template holding one ClusterRole per component and the aggregated view/edit roles. */
export function renderClusterRoles(): string {
  const docs = COMPONENTS.map((component) =>
    clusterRole(component, [`app.kubernetes.io/component: ${component}`], PERMISSIONS[component]),
  );
  const kinds = KINDS.map((k) => k.plural);
  for (const [role, { verbs, aggregateTo }] of Object.entries(USER_ROLES)) {
    const labels = aggregateTo.map((to) => `rbac.authorization.k8s.io/aggregate-to-${to}: "true"`);
    const rows = [{ apiGroup: GROUP, resources: kinds, verbs, usedBy: [] }];
    docs.push(
      `{{- if .Values.rbac.aggregateToDefaultRoles }}\n${clusterRole(role, labels, rows)}{{- end }}\n`,
    );
  }
  return HEADER + docs.join('---\n');
}
