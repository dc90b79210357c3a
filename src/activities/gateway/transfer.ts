/**
 * The cache loop's Transfer: every gateway moves half of the hottest prefixes `from` serves to `to`, then `to`
 * is warmed with prefill-only replays of them. The input carries the reason with the numbers (the audit).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClient } from '../../kube/client.ts';
import type { GatewayRuntime } from '../../runtime/gateway-runtime.ts';
import type { CacheReplica } from '../vllm/cache-actions.ts';
import { deployedGatewayAdmins } from './discovery.ts';
import { shiftOwnership, warmReplica, type GatewayAdmin } from './ownership.ts';

/**
 * `gatewayAdmin`: gateways run by hand (INFCTL_GATEWAY_ADMIN_URLS); else the namespace's deployed ones, with
 * the tokens `gateways` (the runtime that deployed them) keeps.
 */
export const transferActivities = (
  kube: KubeClient,
  gateways: GatewayRuntime,
  gatewayAdmin?: GatewayAdmin,
) => ({
  async transferCache(input: {
    model: string;
    /** The cache's namespace: its deployed gateways are found there (absent in workflows started earlier). */
    namespace?: string;
    from: CacheReplica;
    to: CacheReplica;
    ttlSeconds: number;
    reason: string;
  }) {
    const admins =
      gatewayAdmin && gatewayAdmin.urls.length > 0
        ? [gatewayAdmin]
        : input.namespace
          ? await deployedGatewayAdmins(kube, input.namespace, gateways)
          : [];
    if (admins.length === 0)
      throw ApplicationFailure.nonRetryable(
        `no gateway admin API found: no InferenceGateway${input.namespace ? ` in ${input.namespace}` : ''} publishes status.adminUrl, and INFCTL_GATEWAY_ADMIN_URLS is not set`,
      );
    const { results, prompts } = await shiftOwnership(admins, {
      model: input.model,
      from: input.from.url,
      to: input.to.url,
      ttlSeconds: input.ttlSeconds,
      reason: input.reason,
    });
    const warm = await warmReplica(input.to, input.model, prompts, () => Context.current().heartbeat());
    return {
      gateways: results,
      moved: prompts.length,
      ...warm,
      method: 'gateway ownership shift + prefill-only replays',
    };
  },
});
