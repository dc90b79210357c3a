import { z } from 'zod';
import { API_VERSION, ObjectMetaSchema } from './common.ts';

/**
 * The envelope every kind shares: apiVersion, kind, metadata, spec and an optional status. The original
 * PDD example carries a status block, so documents with status are accepted (the API server ignores it on
 * create, since status is a subresource).
 */
export function resourceSchema<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(
  kind: K,
  spec: Spec,
  status: Status,
) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
    kind: z.literal(kind, { error: `must be "${kind}"` }),
    metadata: ObjectMetaSchema,
    spec,
    status: status.optional(),
  });
}
