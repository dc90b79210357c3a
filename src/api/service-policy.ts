/**
 * What an InferenceService author may ask for beyond serving a model, as the operator allows it. Whoever may
 * create an InferenceService must not thereby be able to run a privileged pod or point the gateway at any
 * address: the pod-template overlay may not grant host access, privileges or another identity, and the
 * semantic cache's Redis and embedding endpoints must be in-cluster Services or loopback, unless the operator
 * lists the exception (worker and gateway settings `INFCTL_POD_TEMPLATE_ALLOW`, `INFCTL_ENDPOINT_ALLOW`).
 */
import type { InferenceServiceSpec } from './inference-service.ts';

/** The privileges an overlay may grant only when the operator allows them by name (Pod Security "baseline"). */
export const POD_TEMPLATE_PRIVILEGES = {
  hostNetwork: 'the host network namespace (spec.hostNetwork)',
  hostPID: 'the host PID namespace (spec.hostPID)',
  hostIPC: 'the host IPC namespace (spec.hostIPC)',
  hostPort: 'ports bound on the node (ports[].hostPort)',
  hostPath: 'node directories mounted into the pod (volumes[].hostPath)',
  privileged: 'privileged containers (securityContext.privileged, windowsOptions.hostProcess)',
  capabilities: 'added Linux capabilities (securityContext.capabilities.add)',
  procMount: 'an unmasked /proc (securityContext.procMount)',
  unconfined: 'seccomp or AppArmor profiles of type Unconfined',
  seLinux: 'custom SELinux types (securityContext.seLinuxOptions.type)',
  sysctls: 'sysctls (spec.securityContext.sysctls)',
  serviceAccountName: 'another ServiceAccount (spec.serviceAccountName, spec.serviceAccount)',
} as const;
export type PodTemplatePrivilege = keyof typeof POD_TEMPLATE_PRIVILEGES;
const POD_TEMPLATE_ALLOW_ENV = 'INFCTL_POD_TEMPLATE_ALLOW';
const ENDPOINT_ALLOW_ENV = 'INFCTL_ENDPOINT_ALLOW';

export interface ServicePolicy {
  /** Overlay privileges the operator allows. */
  podTemplate: ReadonlySet<string>;
  /** Extra hosts the semantic cache may reach: exact names, `*.suffix` wildcards, or `*` for any. */
  endpointHosts: readonly string[];
}

export const DEFAULT_SERVICE_POLICY: ServicePolicy = { podTemplate: new Set(), endpointHosts: [] };

/** The policy from the environment; an unknown privilege name is an error naming the setting. */
export function servicePolicyFromEnv(env: NodeJS.ProcessEnv = process.env): ServicePolicy {
  const list = (name: string) =>
    (env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const podTemplate = list(POD_TEMPLATE_ALLOW_ENV);
  const unknown = podTemplate.filter((p) => p !== '*' && !(p in POD_TEMPLATE_PRIVILEGES));
  if (unknown.length > 0)
    throw new Error(
      `${POD_TEMPLATE_ALLOW_ENV}: unknown privilege ${unknown.map((u) => `"${u}"`).join(', ')} (known: ${Object.keys(POD_TEMPLATE_PRIVILEGES).join(', ')}, or * for all)`,
    );
  const all = podTemplate.includes('*');
  return {
    podTemplate: new Set(all ? Object.keys(POD_TEMPLATE_PRIVILEGES) : podTemplate),
    endpointHosts: list(ENDPOINT_ALLOW_ENV),
  };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objects = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

interface Grant {
  privilege: PodTemplatePrivilege;
  path: string;
}

function securityGrants(sc: unknown, path: string, out: Grant[]): void {
  if (!isObject(sc)) return;
  if (sc.privileged === true) out.push({ privilege: 'privileged', path: `${path}.privileged` });
  if (isObject(sc.windowsOptions) && sc.windowsOptions.hostProcess === true)
    out.push({ privilege: 'privileged', path: `${path}.windowsOptions.hostProcess` });
  const add = isObject(sc.capabilities) ? sc.capabilities.add : undefined;
  if (Array.isArray(add) && add.length > 0)
    out.push({ privilege: 'capabilities', path: `${path}.capabilities.add` });
  if (sc.procMount !== undefined && sc.procMount !== 'Default')
    out.push({ privilege: 'procMount', path: `${path}.procMount` });
  for (const profile of ['seccompProfile', 'appArmorProfile'] as const) {
    const p = sc[profile];
    if (isObject(p) && p.type === 'Unconfined')
      out.push({ privilege: 'unconfined', path: `${path}.${profile}.type` });
  }
  if (isObject(sc.seLinuxOptions) && sc.seLinuxOptions.type !== undefined)
    out.push({ privilege: 'seLinux', path: `${path}.seLinuxOptions.type` });
}

/** Every privilege a pod-template overlay grants, with the path that grants it. */
export function podTemplateGrants(overlay: unknown, base = 'spec.runtime.podTemplate'): Grant[] {
  const out: Grant[] = [];
  const spec = isObject(overlay) ? overlay.spec : undefined;
  if (!isObject(spec)) return out;
  const at = `${base}.spec`;
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const)
    if (spec[ns] === true) out.push({ privilege: ns, path: `${at}.${ns}` });
  for (const field of ['serviceAccountName', 'serviceAccount'] as const)
    if (spec[field] !== undefined) out.push({ privilege: 'serviceAccountName', path: `${at}.${field}` });
  objects(spec.volumes).forEach((v, i) => {
    if (v.hostPath !== undefined) out.push({ privilege: 'hostPath', path: `${at}.volumes[${i}].hostPath` });
  });
  if (isObject(spec.securityContext)) {
    const sc = spec.securityContext;
    securityGrants(sc, `${at}.securityContext`, out);
    if (Array.isArray(sc.sysctls) && sc.sysctls.length > 0)
      out.push({ privilege: 'sysctls', path: `${at}.securityContext.sysctls` });
  }
  for (const list of ['containers', 'initContainers', 'ephemeralContainers'] as const) {
    objects(spec[list]).forEach((c, i) => {
      const path = `${at}.${list}[${i}]`;
      securityGrants(c.securityContext, `${path}.securityContext`, out);
      objects(c.ports).forEach((p, j) => {
        if (p.hostPort !== undefined)
          out.push({ privilege: 'hostPort', path: `${path}.ports[${j}].hostPort` });
      });
    });
  }
  return out;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)$/i;
/** An in-cluster Service name as Kubernetes DNS spells it. */
const IN_CLUSTER =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?\.svc(\.cluster\.local)?$/;

/** Whether the semantic cache may reach `url`: loopback, an in-cluster Service, or a host the operator lists. */
export function endpointAllowed(url: string, allowedHosts: readonly string[]): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (LOOPBACK.test(host) || IN_CLUSTER.test(host)) return true;
  return allowedHosts.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*') return true;
    if (p.startsWith('*.')) return host.endsWith(p.slice(1));
    return host === p;
  });
}

/** What the policy refuses in a spec, each naming the field and how the operator would allow it. */
export function servicePolicyProblems(spec: InferenceServiceSpec, policy: ServicePolicy): string[] {
  const problems: string[] = [];
  for (const grant of podTemplateGrants(spec.runtime?.podTemplate)) {
    if (policy.podTemplate.has(grant.privilege)) continue;
    problems.push(
      `${grant.path}: a pod-template overlay may not grant ${POD_TEMPLATE_PRIVILEGES[grant.privilege]} (the operator can allow it with ${POD_TEMPLATE_ALLOW_ENV}=${grant.privilege})`,
    );
  }
  const cache = spec.nlpFilters?.semanticCache;
  const urls: [string, string | undefined][] = [
    [
      'storeRef',
      cache?.storeRef !== undefined && /^rediss?:\/\//.test(cache.storeRef) ? cache.storeRef : undefined,
    ],
    ['embeddingEndpoint', cache?.embeddingEndpoint],
  ];
  for (const [field, url] of urls) {
    if (url === undefined || endpointAllowed(url, policy.endpointHosts)) continue;
    problems.push(
      `spec.nlpFilters.semanticCache.${field}: ${JSON.stringify(url)} is neither an in-cluster Service nor loopback (the operator can allow its host with ${ENDPOINT_ALLOW_ENV})`,
    );
  }
  return problems;
}
