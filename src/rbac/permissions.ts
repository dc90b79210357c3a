/**
 * Every Kubernetes permission the product's processes use, per component, next to the code that needs it:
 * the chart's ClusterRoles are generated from this table (`make crds`), a unit test fails when the code makes a
 * call no row allows (or a row allows what no code does), and an e2e test runs the processes under the
 * generated roles and counts denials.
 */
import { GROUP, KINDS } from '../api/index.ts';

export type Verb =
  'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'bind';

export interface PermissionRow {
  /** '' is the core group. */
  apiGroup: string;
  /** Plural resource names; `plural/status` for the status subresource. */
  resources: readonly string[];
  verbs: readonly Verb[];
  /** Only these objects; `{fullname}` stands for the release's full name (the chart's objects' prefix). */
  resourceNames?: readonly string[];
  /** Why the row is needed though no call names it (the API server checks it on another call). */
  impliedBy?: string;
  /** The source files whose calls need this row (the unit test checks each file makes such a call). */
  usedBy: readonly string[];
}

export type Component = 'controller' | 'worker' | 'gateway';

export const COMPONENTS: readonly Component[] = ['controller', 'worker', 'gateway'];

const ALL_KINDS = KINDS.map((k) => k.plural);

export const PERMISSIONS: Record<Component, readonly PermissionRow[]> = {
  controller: [
    // Informers on the five kinds (list, then watch) and the finalizer it adds (JSON patch).
    {
      apiGroup: GROUP,
      resources: ALL_KINDS,
      verbs: ['list', 'watch', 'patch'],
      usedBy: ['src/controller/controller.ts'],
    },
    // A spec that does not parse is reported as InvalidSpec on the status before any workflow starts.
    {
      apiGroup: GROUP,
      resources: ALL_KINDS.map((p) => `${p}/status`),
      verbs: ['patch'],
      usedBy: ['src/controller/invalid-spec.ts'],
    },
  ],
  worker: [
    // Reading a resource and its references; writing status; releasing the finalizer.
    {
      apiGroup: GROUP,
      resources: ALL_KINDS,
      verbs: ['get', 'patch'],
      usedBy: [
        'src/activities/kubernetes/resources.ts',
        'src/activities/kubernetes/service-activities.ts',
        'src/activities/kubernetes/dependents.ts',
        'src/runtime/kubernetes/gateway-deployment.ts',
      ],
    },
    {
      apiGroup: GROUP,
      resources: ALL_KINDS.map((p) => `${p}/status`),
      verbs: ['patch'],
      usedBy: ['src/activities/kubernetes/resources.ts'],
    },
    // The services of a model or a cache (dependents, PDD pairing, cache replicas).
    {
      apiGroup: GROUP,
      resources: ['inferenceservices'],
      verbs: ['list'],
      usedBy: ['src/activities/kubernetes/dependents.ts'],
    },
    // The worker's cache of them (informer: list, then watch), indexed by model.
    {
      apiGroup: GROUP,
      resources: ['inferenceservices'],
      verbs: ['list', 'watch'],
      usedBy: ['src/activities/kubernetes/service-cache.ts'],
    },
    // The vLLM Deployments an InferenceService rolls out (server-side apply: patch, and create the first time),
    // watches and prunes.
    {
      apiGroup: 'apps',
      resources: ['deployments'],
      verbs: ['get', 'list', 'create', 'patch', 'delete'],
      usedBy: [
        'src/runtime/kubernetes/kubernetes-runtime.ts',
        'src/runtime/kubernetes/gateway-deployment.ts',
      ],
    },
    // The backend Service in front of the replicas.
    {
      apiGroup: '',
      resources: ['services'],
      verbs: ['list', 'create', 'patch', 'delete'],
      usedBy: [
        'src/runtime/kubernetes/kubernetes-runtime.ts',
        'src/runtime/kubernetes/gateway-deployment.ts',
      ],
    },
    // The deployed gateways' admin URLs (cache transfers find them in the InferenceGateways' status).
    {
      apiGroup: GROUP,
      resources: ['inferencegateways'],
      verbs: ['list'],
      usedBy: ['src/activities/gateway/discovery.ts'],
    },
    // A deployed gateway's admin token: created once, read back by the cache transfers.
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['get', 'create'],
      usedBy: ['src/runtime/kubernetes/gateway-deployment.ts'],
    },
    // A deployed gateway's ServiceAccount, bound in its namespace to the chart's gateway ClusterRole.
    {
      apiGroup: '',
      resources: ['serviceaccounts'],
      verbs: ['create', 'patch'],
      usedBy: ['src/runtime/kubernetes/gateway-deployment.ts'],
    },
    {
      apiGroup: 'rbac.authorization.k8s.io',
      resources: ['rolebindings'],
      verbs: ['create', 'patch'],
      usedBy: ['src/runtime/kubernetes/gateway-deployment.ts'],
    },
    {
      apiGroup: 'rbac.authorization.k8s.io',
      resources: ['clusterroles'],
      verbs: ['bind'],
      resourceNames: ['{fullname}-gateway'],
      impliedBy:
        'creating the RoleBinding: the API server lets only who may bind a role (or holds all its permissions) bind it',
      usedBy: ['src/runtime/kubernetes/gateway-deployment.ts'],
    },
    // Rollout progress, endpoints, PDD pairing.
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list'],
      usedBy: ['src/runtime/kubernetes/kubernetes-runtime.ts', 'src/activities/kubernetes/dependents.ts'],
    },
    // The worker's cache of the services' pods (informer: list, then watch), read by observations.
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list', 'watch'],
      usedBy: ['src/runtime/kubernetes/pod-cache.ts'],
    },
    // The zone of a pod's node (topology-aware pairing and endpoints).
    {
      apiGroup: '',
      resources: ['nodes'],
      verbs: ['get'],
      usedBy: ['src/runtime/kubernetes/kubernetes-runtime.ts', 'src/activities/kubernetes/dependents.ts'],
    },
    // An Event per step on the resource; a repeat counted on the first (count, lastTimestamp).
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['create', 'patch'],
      usedBy: ['src/activities/kubernetes/events.ts'],
    },
  ],
  gateway: [
    // Routes from the InferenceGateways and the InferenceServices' specs and status.endpoints.
    {
      apiGroup: GROUP,
      resources: ['inferencegateways', 'inferenceservices'],
      verbs: ['list', 'watch'],
      usedBy: ['src/gateway/routes/kubernetes-source.ts'],
    },
  ],
};

/**
 * What namespace users get through the aggregated ClusterRoles: `view` reads the five kinds, `edit` manages
 * them; each role also aggregates into the roles above it, as Kubernetes' own do.
 */
export const USER_ROLES = {
  view: {
    verbs: ['get', 'list', 'watch'],
    aggregateTo: ['view', 'edit', 'admin'],
  },
  edit: {
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
    aggregateTo: ['edit', 'admin'],
  },
} as const satisfies Record<string, { verbs: readonly Verb[]; aggregateTo: readonly string[] }>;
