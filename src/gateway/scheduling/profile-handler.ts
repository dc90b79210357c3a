import type { ServingRole } from '../../api/index.ts';
import type { EndpointState } from '../endpoints/endpoint-state.ts';
import type { InferenceKind } from '../request-body.ts';

/** The profiles a request runs, by the role each schedules for. */
export interface ProfilePlan {
  /** Run first, each on its own endpoint, to compute the prompt's KV cache for the primary (P/D prefill). */
  prepare: ServingRole[];
  /** The profile whose endpoint answers the client. */
  primary: ServingRole;
}

/** Decides which scheduling profiles run for a request (llm-d's ProfileHandler). */
export interface ProfileHandler {
  readonly name: string;
  pick(kind: InferenceKind, endpoints: readonly EndpointState[]): ProfilePlan;
}

const SINGLE: ProfilePlan = { prepare: [], primary: 'both' };
const PREFILL_DECODE: ProfilePlan = { prepare: ['prefill'], primary: 'decode' };

/**
 * Prefill/decode disaggregation (llm-d's pd_profile_handler): a generation request to a service with prefill
 * and decode endpoints runs the prefill profile, then the decode profile; anything else runs one profile.
 */
export class PdProfileHandler implements ProfileHandler {
  readonly name = 'pd';

  pick(kind: InferenceKind, endpoints: readonly EndpointState[]): ProfilePlan {
    const disaggregated =
      kind !== 'embedding' &&
      endpoints.some((e) => e.role === 'prefill') &&
      endpoints.some((e) => e.role === 'decode');
    return disaggregated ? PREFILL_DECODE : SINGLE;
  }
}
