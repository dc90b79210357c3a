import type { GatewayError } from '../errors.ts';
import type { RequestContext } from '../request-context.ts';
import type { CachedAnswer } from './semantic-cache.ts';

/** What a filter answers in the endpoints' stead: an error (a blocked prompt) or a kept answer (a cache hit). */
export type FilterResponse =
  { error: GatewayError } | { answer: CachedAnswer; headers: Record<string, string>; servedBy: string };

/**
 * One step of a target's request-filter chain. `before` runs after routing and before scheduling, in chain
 * order; the first response ends the request there. `after` sees the endpoint's answer (status 200, read whole)
 * when a filter set `ctx.answerKind` in its `before`.
 */
export interface RequestFilter {
  readonly name: string;
  before(ctx: RequestContext): Promise<FilterResponse | undefined>;
  after?(ctx: RequestContext, answer: CachedAnswer): void;
}
