import {
  endpointAllowed,
  parseBlockedPattern,
  type BlockedPattern,
  type InferenceServiceSpec,
} from '../../api/index.ts';
import type { ModelFilters } from './route-table.ts';

/**
 * The gateway filters of a service's `nlpFilters`. A `storeRef` that is a Service name becomes
 * `redis://<name>.<namespace>.svc:6379`; a URL is used as it is.
 */
export function filtersFrom(
  nlpFilters: InferenceServiceSpec['nlpFilters'],
  namespace: string,
  /** For resources from the cluster: the hosts beyond in-cluster Services and loopback the cache may reach. */
  allowedHosts?: readonly string[],
): ModelFilters {
  const filters: ModelFilters = {};
  const guard = nlpFilters?.promptGuard;
  if (guard) {
    const patterns: BlockedPattern[] = [];
    for (const entry of guard.blockedPatterns) {
      const parsed = parseBlockedPattern(entry);
      // The CRD and InvalidSpec reject bad entries; one that slips through is skipped, never half-applied.
      if (!('error' in parsed)) patterns.push(parsed);
    }
    filters.promptGuard = patterns;
  }
  const cache = nlpFilters?.semanticCache;
  if (cache) {
    const ref = cache.storeRef;
    const redisUrl = /^rediss?:\/\//.test(ref)
      ? ref
      : `redis://${ref.includes('.') ? ref : `${ref}.${namespace}`}.svc:6379`;
    const endpoints = [redisUrl, cache.embeddingEndpoint].filter((u): u is string => u !== undefined);
    // The worker marks such a service InvalidSpec; the gateway never connects there in the meantime.
    if (allowedHosts && !endpoints.every((u) => endpointAllowed(u, allowedHosts))) return filters;
    filters.semanticCache = {
      redisUrl,
      threshold: cache.threshold,
      ttlSeconds: cache.ttlSeconds,
      embeddingEndpoint: cache.embeddingEndpoint,
      embeddingModel: cache.embeddingModel,
      scope: cache.scope,
      tenantHeader: cache.tenantHeader?.toLowerCase(),
    };
  }
  return filters;
}
