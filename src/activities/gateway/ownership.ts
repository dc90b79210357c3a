/**
 * The cache control loop's side of a Transfer: shift prefix ownership in every gateway (their admin API), then
 * warm the receiving replica with prefill-only replays of the moved prefixes.
 */
import type { OwnershipShiftAnswer, WarmPrompt } from '../../api/index.ts';
import type { CacheReplica } from '../vllm/cache-actions.ts';

/**
 * Where gateways' admin APIs are, with the token they share: from the deployed gateways' statuses (discovery.ts),
 * or INFCTL_GATEWAY_ADMIN_URLS and _TOKEN for gateways run by hand (dev, `make demo`).
 */
export interface GatewayAdmin {
  urls: string[];
  token: string;
}

export interface ShiftResult {
  gateway: string;
  moved: number;
  served: number;
  error?: string;
  /** The admin API did not answer at all. */
  unreachable?: boolean;
}

const TIMEOUT_MS = 5000;

/**
 * Asks every gateway to move half of the hottest prefixes `from` serves to `to` (the gateway's default). Returns each
 * gateway's answer and the union of the moved prompts. Throws when no gateway could be reached, so the
 * activity retries; a gateway that does not know the endpoints is reported, not fatal.
 */
export async function shiftOwnership(
  admins: readonly GatewayAdmin[],
  request: { model: string; from: string; to: string; reason: string; ttlSeconds: number },
): Promise<{ results: ShiftResult[]; prompts: WarmPrompt[] }> {
  const prompts = new Map<number, WarmPrompt>();
  const results = await Promise.all(
    admins
      .flatMap((admin) => admin.urls.map((gateway) => ({ gateway, token: admin.token })))
      .map(async ({ gateway, token }): Promise<ShiftResult> => {
        try {
          const res = await fetch(`${gateway.replace(/\/+$/, '')}/admin/ownership`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify(request),
            signal: AbortSignal.timeout(TIMEOUT_MS),
          });
          const text = await res.text();
          if (!res.ok)
            return { gateway, moved: 0, served: 0, error: `HTTP ${res.status}: ${text.slice(0, 300)}` };
          const answer = JSON.parse(text) as OwnershipShiftAnswer;
          for (const m of answer.moved) if (m.prompt) prompts.set(m.key, m.prompt);
          return { gateway, moved: answer.moved.length, served: answer.served };
        } catch (err) {
          return { gateway, moved: 0, served: 0, error: (err as Error).message, unreachable: true };
        }
      }),
  );
  if (results.every((r) => r.unreachable))
    throw new Error(
      `no gateway admin API answered: ${results.map((r) => `${r.gateway}: ${r.error}`).join('; ')}`,
    );
  return { results, prompts: [...prompts.values()] };
}

/**
 * Prefill-only replays: each prompt once, with max_tokens 1, to the receiving replica, a few at a time. The
 * replica computes and caches the prefix's KV blocks, so the requests the gateway now sends it hit.
 */
export async function warmReplica(
  replica: CacheReplica,
  model: string,
  prompts: WarmPrompt[],
  heartbeat: () => void = () => {},
  concurrency = 4,
): Promise<{ warmed: number; failed: number }> {
  let warmed = 0;
  let failed = 0;
  const queue = [...prompts];
  const worker = async () => {
    for (let prompt = queue.shift(); prompt; prompt = queue.shift()) {
      const [path, body] =
        prompt.kind === 'chat'
          ? ['/v1/chat/completions', { model, messages: prompt.messages, max_tokens: 1, stream: false }]
          : ['/v1/completions', { model, prompt: prompt.prompt, max_tokens: 1, stream: false }];
      try {
        const res = await fetch(`${replica.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        await res.text();
        heartbeat();
        if (res.ok) warmed++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, prompts.length) }, worker));
  return { warmed, failed };
}
