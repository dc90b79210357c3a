import type { EndpointState } from '../../endpoints/endpoint-state.ts';
import type { Scorer, SchedulingRequest } from '../framework.ts';

/** gpu-load-aware: the scraped KV-cache usage; a fuller cache scores lower (1 - usage). Unknown is 0.5. */
export class KvUsageScorer implements Scorer {
  readonly name = 'kv-usage';
  readonly category = 'balance' as const;
  score(_request: SchedulingRequest, candidates: readonly EndpointState[], out: Float64Array): void {
    for (let i = 0; i < candidates.length; i++) {
      const usage = candidates[i]!.kvUsage;
      out[i] = usage === undefined ? 0.5 : 1 - Math.min(Math.max(usage, 0), 1);
    }
  }
}
