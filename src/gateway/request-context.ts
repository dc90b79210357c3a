import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointState } from './endpoints/endpoint-state.ts';
import type { RequestFilter } from './filters/request-filter.ts';
import type { InferenceRequest } from './request-body.ts';
import type { ModelRoute, RouteTarget } from './routes/route-table.ts';
import type { Scheduler, SchedulingRequest } from './scheduling/framework.ts';
import type { PromptKeys } from './scheduling/prefix-blocks.ts';

/** One inference request on its way through the gateway: built once it is routed, then read by every step. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The API path, sent upstream as it came. */
  readonly path: string;
  readonly request: InferenceRequest;
  readonly model: string;
  readonly route: ModelRoute;
  /** The service the route chose for this request. */
  readonly target: RouteTarget;
  readonly endpoints: EndpointState[];
  readonly scheduler: Scheduler;
  /** The target's filter chain, in order. */
  readonly filters: readonly RequestFilter[];
  readonly keys: PromptKeys;
  /** What the scheduler reads of this request; each schedule adds the role, the endpoints tried and the time. */
  readonly scheduling: Omit<SchedulingRequest, 'role' | 'exclude' | 'now'>;
  /** Bytes to send upstream: the client's own unless the gateway had to change the body. */
  forward: Buffer;
  /** Headers the gateway adds to the client's answer (x-cache, x-prefill-endpoint). */
  readonly responseHeaders: Record<string, string>;
  /** Set by a filter whose `after` wants the endpoint's answer: the API to read it as. */
  answerKind?: 'chat' | 'completion';
  readonly started: number;
}
