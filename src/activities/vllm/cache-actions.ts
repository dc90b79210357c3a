import type { ServingRole } from '../../api/index.ts';
import { metricSum, parseExposition } from '../../metrics/exposition.ts';

/** One replica's numbers from one poll (counters are totals since the replica started). */
export interface ReplicaSample {
  name: string;
  url: string;
  /** prefill, decode or both (the default): transfers stay among replicas of one role. */
  role?: string;
  /** Whether /metrics answered. */
  ok: boolean;
  kvUsage?: number;
  hits?: number;
  queries?: number;
  running?: number;
  waiting?: number;
}

export interface CacheReplica {
  name: string;
  url: string;
  engine: 'vllm' | 'simulator';
  /** Prefill and decode replicas are compared only with their own kind. */
  role?: ServingRole;
}

const TIMEOUT_MS = 3000;

/**
 * Reads one poll from every replica: KV usage (vllm:kv_cache_usage_perc, else the older
 * vllm:gpu_cache_usage_perc), prefix-cache hits and queries (with or without `_total`), running and waiting.
 */
export async function scrapeReplicas(replicas: CacheReplica[]): Promise<ReplicaSample[]> {
  return Promise.all(
    replicas.map(async (r): Promise<ReplicaSample> => {
      try {
        const res = await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (!res.ok) return { name: r.name, url: r.url, role: r.role, ok: false };
        const samples = parseExposition(await res.text());
        return {
          name: r.name,
          url: r.url,
          role: r.role,
          ok: true,
          kvUsage:
            metricSum(samples, 'vllm:kv_cache_usage_perc') ?? metricSum(samples, 'vllm:gpu_cache_usage_perc'),
          hits: metricSum(samples, 'vllm:prefix_cache_hits'),
          queries: metricSum(samples, 'vllm:prefix_cache_queries'),
          running: metricSum(samples, 'vllm:num_requests_running'),
          waiting: metricSum(samples, 'vllm:num_requests_waiting'),
        };
      } catch {
        return { name: r.name, url: r.url, role: r.role, ok: false };
      }
    }),
  );
}

async function post(url: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(TIMEOUT_MS) });
  await res.body?.cancel();
  return res.status;
}

/**
 * Drops a replica's prefix cache. vLLM: POST /reset_prefix_cache, which vLLM serves only with
 * VLLM_SERVER_DEV_MODE=1. The simulator: a sleep/wake cycle (POST /sleep discards its KV cache, POST /wake_up
 * brings it back empty), which needs --enable-sleep-mode and the same variable. Throws when the replica refuses,
 * so the activity retries and the failure shows in the workflow's history.
 */
async function evictReplicaCache(replica: CacheReplica): Promise<{ method: string }> {
  if (replica.engine === 'vllm') {
    const status = await post(`${replica.url}/reset_prefix_cache`);
    if (status !== 200) throw new Error(`${replica.name}: POST /reset_prefix_cache answered ${status}`);
    return { method: 'POST /reset_prefix_cache' };
  }
  const slept = await post(`${replica.url}/sleep`);
  const woke = await post(`${replica.url}/wake_up`);
  if (slept !== 200 || woke !== 200)
    throw new Error(`${replica.name}: POST /sleep answered ${slept}, POST /wake_up answered ${woke}`);
  return { method: 'POST /sleep + POST /wake_up' };
}

/** The cache loop's replica activities: one poll of every replica, and an eviction with its audit reason. */
export const cacheActivities = {
  async scrapeCacheMetrics(input: { replicas: CacheReplica[] }): Promise<ReplicaSample[]> {
    return scrapeReplicas(input.replicas);
  },
  /** The input's reason (the numbers that triggered it) is the audit trail in the history. */
  async evictCache(input: { replica: CacheReplica; reason: string }): Promise<{ method: string }> {
    return evictReplicaCache(input.replica);
  },
};
