import { z } from 'zod';
import { positiveInt } from './common.ts';
import { conditionsField, observedGenerationField } from './conditions.ts';
import { resourceSchema } from './resource.ts';

export const KIND_SPECULATIVE_DECODING = 'SpeculativeDecoding';

/** vLLM speculative methods; the first three need no draft model of their own besides what they name. */
const SPECULATIVE_METHODS = ['draft_model', 'ngram', 'eagle', 'eagle3', 'mtp'] as const;
/** Methods that load a separate draft model (spec.draftModel). */
const METHODS_WITH_DRAFT_MODEL = ['draft_model', 'eagle', 'eagle3'] as const;

export const SpeculativeDecodingSpecSchema = z
  .strictObject({
    draftModel: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe(
        'The small model that proposes tokens (a Hugging Face id or path); required by draft_model, eagle and eagle3.',
      ),
    targetModel: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256)
      .describe('The served model (an InferenceService modelName) whose replicas verify the proposals.'),
    method: z
      .enum(SPECULATIVE_METHODS)
      .default('draft_model')
      .describe('The speculative method of --speculative-config.'),
    numSpeculativeTokens: z
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be between 1 and 16' })
      .max(16, { error: 'must be between 1 and 16' })
      .default(5)
      .describe('Tokens proposed per step (num_speculative_tokens).'),
    draftTensorParallelSize: positiveInt(
      'Tensor-parallel size of the draft model (draft_tensor_parallel_size).',
    ).default(1),
    promptLookupMax: positiveInt('For ngram: the longest n-gram matched in the prompt.').optional(),
    promptLookupMin: positiveInt('For ngram: the shortest n-gram matched in the prompt.').optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.draftModel !== undefined && spec.draftModel === spec.targetModel) {
      ctx.addIssue({ code: 'custom', path: ['draftModel'], message: 'must differ from targetModel' });
    }
    if (
      (METHODS_WITH_DRAFT_MODEL as readonly string[]).includes(spec.method) &&
      spec.draftModel === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['draftModel'],
        message: `is required when method is ${spec.method}`,
      });
    }
    if (
      spec.method !== 'ngram' &&
      (spec.promptLookupMax !== undefined || spec.promptLookupMin !== undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['method'],
        message: 'promptLookupMin/Max apply only to method ngram',
      });
    }
    if (
      spec.promptLookupMax !== undefined &&
      spec.promptLookupMin !== undefined &&
      spec.promptLookupMin > spec.promptLookupMax
    ) {
      ctx.addIssue({ code: 'custom', path: ['promptLookupMin'], message: 'must not exceed promptLookupMax' });
    }
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '!has(self.draftModel) || self.draftModel != self.targetModel',
        message: 'draftModel must differ from targetModel',
        fieldPath: '.draftModel',
      },
      {
        rule: "has(self.draftModel) || !has(self.method) || !(self.method in ['draft_model', 'eagle', 'eagle3'])",
        message: 'draftModel is required when method is draft_model, eagle or eagle3',
        fieldPath: '.draftModel',
      },
      {
        rule: '!has(self.promptLookupMin) || !has(self.promptLookupMax) || self.promptLookupMin <= self.promptLookupMax',
        message: 'promptLookupMin must not exceed promptLookupMax',
        fieldPath: '.promptLookupMin',
      },
    ],
  })
  .describe("Desired state of a SpeculativeDecoding: how the target model's replicas speculate.");

const SpeculativeDecodingStatusSchema = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    conditions: conditionsField(),
    services: z
      .array(z.string())
      .optional()
      .describe('InferenceServices serving targetModel that carry this configuration.'),
    acceptanceRate: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Accepted draft tokens / proposed draft tokens, from vllm:spec_decode_* counters.'),
  })
  .describe('Observed state of a SpeculativeDecoding.');

export const SpeculativeDecodingSchema = resourceSchema(
  KIND_SPECULATIVE_DECODING,
  SpeculativeDecodingSpecSchema,
  SpeculativeDecodingStatusSchema,
);

export type SpeculativeDecoding = z.infer<typeof SpeculativeDecodingSchema>;
export type SpeculativeDecodingSpec = z.infer<typeof SpeculativeDecodingSpecSchema>;
