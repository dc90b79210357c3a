import type { EndpointState } from '../endpoints/endpoint-state.ts';
import type { Filter, SchedulingRequest } from './framework.ts';

/** Keeps endpoints that are ready, pass health checks, are not ejected and were not tried already. */
export class AvailableFilter implements Filter {
  readonly name = 'available';
  filter(request: SchedulingRequest, candidates: EndpointState[]): EndpointState[] {
    return candidates.filter((e) => e.available(request.now) && !request.exclude?.has(e));
  }
}

/**
 * Keeps endpoints that serve the wanted role. A `both` endpoint serves every role; a plain request (role
 * `both`) may also go to a decode endpoint, which can run a whole request itself.
 */
export class RoleFilter implements Filter {
  readonly name = 'role';
  filter(request: SchedulingRequest, candidates: EndpointState[]): EndpointState[] {
    if (request.role === 'both') return candidates.filter((e) => e.role !== 'prefill');
    return candidates.filter((e) => e.role === request.role || e.role === 'both');
  }
}
