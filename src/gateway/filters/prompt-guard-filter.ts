import type { GatewayMetrics } from '../../metrics/gateway-metrics.ts';
import type { BlockedPattern } from '../../api/index.ts';
import { GatewayError } from '../errors.ts';
import type { RequestContext } from '../request-context.ts';
import { findBlocked } from './prompt-guard.ts';
import type { FilterResponse, RequestFilter } from './request-filter.ts';
import { requestTexts } from './request-texts.ts';

/** The prompt guard as a request filter: every text the request carries (request-texts.ts) is checked. */
export class PromptGuardFilter implements RequestFilter {
  readonly name = 'prompt-guard';

  constructor(
    private readonly patterns: BlockedPattern[],
    private readonly metrics: GatewayMetrics,
    private readonly log: (message: string) => void,
  ) {}

  before(ctx: RequestContext): Promise<FilterResponse | undefined> {
    const { kind, body } = ctx.request;
    const detector = findBlocked(this.patterns, requestTexts(kind, body));
    if (!detector) return Promise.resolve(undefined);
    this.metrics.promptGuardBlocks.inc({ model: ctx.model, detector });
    this.metrics.requests.inc({ model: ctx.model, endpoint: 'none', status: 400 });
    // The log names the detector only: the matched text must never reach a log.
    this.log(`blocked a ${kind} request for model ${ctx.model}: prompt guard detector ${detector}`);
    const error = new GatewayError(
      400,
      'prompt_blocked',
      `The prompt was blocked by the prompt guard of model "${ctx.model}": it matched the ${detector} detector.`,
      kind === 'chat' ? 'messages' : kind === 'embedding' ? 'input' : 'prompt',
    );
    return Promise.resolve({ error });
  }
}
