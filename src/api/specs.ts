/**
 * Specs are parsed once, at the boundary: the controller parses every resource's spec with its kind's schema
 * (defaults applied) before it signals the workflow, so workflows receive typed specs and never re-apply
 * defaults. A spec that does not parse is reported InvalidSpec by the controller and starts no work.
 */
import type { z } from 'zod';
import { formatPath } from './documents.ts';
import { InferenceCacheSpecSchema, KIND_INFERENCE_CACHE } from './inference-cache.ts';
import { InferenceGatewaySpecSchema, KIND_INFERENCE_GATEWAY } from './inference-gateway.ts';
import { InferenceServiceSpecSchema, KIND_INFERENCE_SERVICE } from './inference-service.ts';
import { KIND_PDD, PrefillDecodingDisaggregationSpecSchema } from './prefill-decoding-disaggregation.ts';
import { KIND_SPECULATIVE_DECODING, SpeculativeDecodingSpecSchema } from './speculative-decoding.ts';

export const SPEC_SCHEMAS = {
  [KIND_INFERENCE_GATEWAY]: InferenceGatewaySpecSchema,
  [KIND_INFERENCE_SERVICE]: InferenceServiceSpecSchema,
  [KIND_INFERENCE_CACHE]: InferenceCacheSpecSchema,
  [KIND_SPECULATIVE_DECODING]: SpeculativeDecodingSpecSchema,
  [KIND_PDD]: PrefillDecodingDisaggregationSpecSchema,
} as const;

export type SpecKind = keyof typeof SPEC_SCHEMAS;
export type SpecOf<K extends SpecKind> = z.infer<(typeof SPEC_SCHEMAS)[K]>;

export type ParsedSpec<S = unknown> = { ok: true; spec: S } | { ok: false; problems: string[] };

/** Parses a resource's spec with its kind's schema; problems name the field (`spec.runtime.replicas: ...`). */
export function parseSpec<K extends SpecKind>(kind: K, spec: unknown): ParsedSpec<SpecOf<K>>;
export function parseSpec(kind: string, spec: unknown): ParsedSpec;
export function parseSpec(kind: string, spec: unknown): ParsedSpec {
  const schema = (SPEC_SCHEMAS as Record<string, z.ZodType>)[kind];
  if (!schema) return { ok: false, problems: [`unknown kind ${kind}`] };
  const parsed = schema.safeParse(spec ?? {});
  if (parsed.success) return { ok: true, spec: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map(
      (i) => `spec${i.path.length ? `.${formatPath(i.path)}` : ''}: ${i.message}`,
    ),
  };
}
