/**
 * The worker finds the gateways the InferenceGateway workflows deployed from their statuses: status.adminUrl,
 * and the token in the Secret status.adminSecret names.
 */
import { paths, type KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { gatewayAdminToken } from '../../runtime/kubernetes/gateway-deployment.ts';
import type { GatewayAdmin } from './ownership.ts';

interface GatewayStatus extends KubeObject {
  status?: { adminUrl?: string; adminSecret?: string };
}

/** The admin APIs of the deployed gateways in a namespace, each with its own token. */
export async function deployedGatewayAdmins(kube: KubeClient, namespace: string): Promise<GatewayAdmin[]> {
  const gateways = await kube.list<GatewayStatus>(paths.custom('inferencegateways', namespace));
  const out: GatewayAdmin[] = [];
  for (const g of gateways) {
    const { adminUrl, adminSecret } = g.status ?? {};
    if (!adminUrl || !adminSecret) continue;
    out.push({ urls: [adminUrl], token: await gatewayAdminToken(kube, namespace, adminSecret) });
  }
  return out;
}
