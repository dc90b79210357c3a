/**
 * The worker finds the gateways the InferenceGateway workflows deployed from their statuses: status.adminUrl,
 * and the token where the runtime that deployed it keeps it (the Secret status.adminSecret names on
 * Kubernetes, a file of the process runtime's folder locally).
 */
import { paths, type KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { GatewayRuntime } from '../../runtime/gateway-runtime.ts';
import type { GatewayAdmin } from './ownership.ts';

export interface GatewayStatus extends KubeObject {
  status?: { adminUrl?: string; adminSecret?: string };
}

/** The InferenceGateways whose status publishes an admin URL, in name order. */
export function publishedAdmins(
  gateways: GatewayStatus[],
): { name: string; adminUrl: string; adminSecret?: string }[] {
  return gateways
    .filter((g) => typeof g.status?.adminUrl === 'string' && g.status.adminUrl !== '')
    .map((g) => ({
      name: g.metadata.name,
      adminUrl: g.status?.adminUrl as string,
      ...(g.status?.adminSecret ? { adminSecret: g.status.adminSecret } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The admin APIs of the deployed gateways in a namespace, each with its own token; a gateway whose token the
 * runtime does not have (deployed by another runtime, or deleted meanwhile) is left out.
 */
export async function deployedGatewayAdmins(
  kube: KubeClient,
  namespace: string,
  runtime: GatewayRuntime,
): Promise<GatewayAdmin[]> {
  const gateways = await kube.list<GatewayStatus>(paths.custom('inferencegateways', namespace));
  const out: GatewayAdmin[] = [];
  for (const g of publishedAdmins(gateways)) {
    const token = await runtime.adminToken(namespace, g.name, g);
    if (token) out.push({ urls: [g.adminUrl], token });
  }
  return out;
}
