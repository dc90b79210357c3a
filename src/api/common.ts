import { z } from 'zod';
import { DURATION } from './duration.ts';

export { parseDuration } from './duration.ts';

export const GROUP = 'production-stack.vllm.ai';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** RFC 1123 label: what Kubernetes requires of Service names, which our resources' names become. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The name of another resource of this API in the same namespace. */
export function resourceRef(description: string) {
  return z
    .string()
    .min(1)
    .max(63)
    .regex(DNS1123_LABEL, {
      error: 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending alphanumeric',
    })
    .describe(description);
}

export function duration(description: string, fallback: string) {
  return z
    .string()
    .regex(DURATION, { error: 'must be a duration such as "500ms", "15s", "2m" or "1h30m"' })
    .default(fallback)
    .describe(description);
}

export const ratio = (description: string) =>
  z
    .number()
    .min(0, { error: 'must be between 0 and 1' })
    .max(1, { error: 'must be between 0 and 1' })
    .describe(description);

export const positiveInt = (description: string) =>
  z
    .int({ error: 'must be an integer' })
    .min(1, { error: 'must be a positive integer' })
    .describe(description);

/** The standard object metadata, checked where this API depends on it and passed through otherwise. */
export const ObjectMetaSchema = z
  .looseObject({
    name: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(63, { error: 'must be at most 63 characters (it names a Service)' })
      .regex(DNS1123_LABEL, {
        error:
          'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending alphanumeric',
      }),
    namespace: z.string().max(63).regex(DNS1123_LABEL, { error: 'must be a DNS-1123 label' }).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    generation: z.int().optional(),
  })
  .describe('Standard object metadata.');
