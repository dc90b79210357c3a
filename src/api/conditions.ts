import { z } from 'zod';

/** metav1.Condition reasons: CamelCase identifiers. */
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const ConditionSchema = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(316)
      .describe('Type of condition in CamelCase: Ready, Progressing, Degraded, InvalidSpec, ...'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('The metadata.generation the condition was set from.'),
    lastTransitionTime: z.iso
      .datetime({ offset: true })
      .describe('When the condition last changed status (not when it was last written).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(CONDITION_REASON, { error: 'must be CamelCase (letters, digits, "_", "," and ":")' })
      .describe('A programmatic identifier of why the condition is in this state, in CamelCase.'),
    message: z.string().max(32768).default('').describe('A human readable message with details.'),
  })
  .describe('A metav1.Condition: one aspect of the current state of the resource.');

export type Condition = z.infer<typeof ConditionSchema>;
export type ConditionStatus = Condition['status'];

export const conditionsField = () =>
  z
    .array(ConditionSchema)
    .default([])
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe('The latest observations of the resource state, one per type.');

export const observedGenerationField = () =>
  z.int().min(0).optional().describe('The metadata.generation the controller last reconciled.');

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

/**
 * Sets a condition with metav1.Condition semantics: lastTransitionTime moves only when the status flips;
 * reason, message and observedGeneration always take the new values. Returns a new array; order is kept.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  if (!CONDITION_REASON.test(update.reason)) {
    throw new Error(`condition reason "${update.reason}" must be CamelCase`);
  }
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message ?? '',
    lastTransitionTime:
      existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString(),
    ...(update.observedGeneration !== undefined ? { observedGeneration: update.observedGeneration } : {}),
  };
  if (!existing) return [...conditions, next];
  return conditions.map((c) => (c.type === update.type ? next : c));
}

function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}
