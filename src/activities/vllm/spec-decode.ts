import { metricSum, parseExposition } from '../../metrics/exposition.ts';
import type { ServiceReader } from '../kubernetes/service-cache.ts';
import { modelServices, namesOf, replicasOf } from '../kubernetes/dependents.ts';
import type { CacheReplica } from './cache-actions.ts';

export interface SpecDecodeCounters {
  /** Replicas asked, and how many of them export speculative-decoding counters. */
  replicas: number;
  reporting: number;
  /** Summed over the reporting replicas: draft tokens accepted and proposed (vllm:spec_decode_num_*). */
  accepted?: number;
  drafted?: number;
}

const TIMEOUT_MS = 3000;

/** Reads vllm:spec_decode_num_accepted_tokens and _num_draft_tokens from every replica and sums them. */
async function scrapeSpecDecode(replicas: CacheReplica[]): Promise<SpecDecodeCounters> {
  const samples = await Promise.all(
    replicas.map(async (r) => {
      try {
        const res = await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (!res.ok) {
          await res.body?.cancel();
          return undefined;
        }
        const exposition = parseExposition(await res.text());
        const accepted = metricSum(exposition, 'vllm:spec_decode_num_accepted_tokens');
        const drafted = metricSum(exposition, 'vllm:spec_decode_num_draft_tokens');
        return accepted !== undefined && drafted !== undefined ? { accepted, drafted } : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const reporting = samples.filter((s) => s !== undefined);
  if (reporting.length === 0) return { replicas: replicas.length, reporting: 0 };
  return {
    replicas: replicas.length,
    reporting: reporting.length,
    accepted: reporting.reduce((n, s) => n + s.accepted, 0),
    drafted: reporting.reduce((n, s) => n + s.drafted, 0),
  };
}

/** The target replicas' speculative-decoding counters (SpeculativeDecoding's acceptance rate). */
export const specDecodeActivities = (services: ServiceReader) => ({
  async scrapeSpecDecoding(input: { namespace: string; model: string }): Promise<SpecDecodeCounters> {
    return scrapeSpecDecode(replicasOf(await modelServices(services, input.namespace, input.model)));
  },
  /**
   * A SpeculativeDecoding tick's reads as one step (issue 16): the target model's services and, when there are
   * any, their replicas' counters, from one read of the services.
   */
  async readSpecDecodeTick(input: {
    namespace: string;
    model: string;
  }): Promise<{ services: string[]; counters?: SpecDecodeCounters }> {
    const found = await modelServices(services, input.namespace, input.model);
    if (found.length === 0) return { services: [] };
    return { services: namesOf(found), counters: await scrapeSpecDecode(replicasOf(found)) };
  },
});
