import { upsertSearchAttributes } from '@temporalio/workflow';
import type { EntityState } from './entity.ts';
import { Phase } from '../temporal/search-attributes.ts';

/** The resource's phase in the workflow's state and in the `Phase` search attribute (upserted on change). */
export function setPhase(state: EntityState<unknown, unknown>, phase: string, message?: string): void {
  state.message = message;
  if (state.phase === phase) return;
  state.phase = phase;
  upsertSearchAttributes([{ key: Phase, value: phase }]);
}
