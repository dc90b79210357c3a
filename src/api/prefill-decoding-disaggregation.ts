import { z } from 'zod';
import { positiveInt } from './common.ts';
import { conditionsField, observedGenerationField } from './conditions.ts';
import { resourceSchema } from './resource.ts';

export const KIND_PDD = 'PrefillDecodingDisaggregation';

/** KV connectors of --kv-transfer-config; NixlConnector uses the symmetric kv_both role. */
const KV_CONNECTORS = [
  'NixlConnector',
  'LMCacheConnectorV1',
  'P2pNcclConnector',
  'MooncakeConnector',
] as const;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const labelValue = (description: string) =>
  z
    .string()
    .max(63, { error: 'must be at most 63 characters (a label value)' })
    .regex(LABEL_VALUE, { error: 'must be a valid label value' })
    .describe(description);

const labelKey = (description: string, fallback: string) =>
  z
    .string()
    .max(316)
    .regex(LABEL_KEY, { error: 'must be a valid label key such as "topology.kubernetes.io/zone"' })
    .default(fallback)
    .describe(description);

const RoleSchema = (role: string) =>
  z
    .strictObject({
      replicas: z
        .int({ error: 'must be an integer' })
        .min(1, { error: 'must be at least 1' })
        .default(1)
        .describe(`Number of ${role} replicas.`),
      tensorParallelSize: positiveInt(`GPUs per ${role} replica (--tensor-parallel-size).`).default(1),
    })
    .describe(`The ${role} group.`);

export const PrefillDecodingDisaggregationSpecSchema = z
  .strictObject({
    modelName: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256)
      .describe('The served model whose replicas are split into prefill and decode groups.'),
    topologyHint: z
      .strictObject({
        nodeSelector: z
          .strictObject({
            gpuType: labelValue(
              'GPU model the pods must run on, matched against the gpuType node label.',
            ).optional(),
            zone: labelValue(
              'Zone (rack) the pods must run in, matched against the zone node label.',
            ).optional(),
          })
          .prefault({})
          .describe('Where prefill and decode pods are placed.'),
        labelKeys: z
          .strictObject({
            gpuType: labelKey('Node label key that carries the GPU model.', 'nvidia.com/gpu.product'),
            zone: labelKey('Node label key that carries the zone.', 'topology.kubernetes.io/zone'),
          })
          .prefault({})
          .describe('Node label keys the nodeSelector fields map to.'),
      })
      .prefault({})
      .describe('Placement of the prefill and decode pods.'),
    prefill: RoleSchema('prefill').prefault({}),
    decode: RoleSchema('decode').prefault({}),
    kvConnector: z
      .enum(KV_CONNECTORS)
      .default('NixlConnector')
      .describe('The KV connector of --kv-transfer-config that moves KV cache from prefill to decode.'),
  })
  .describe('Desired state of a PrefillDecodingDisaggregation: separate prefill and decode replicas.');

const PrefillDecodingDisaggregationStatusSchema = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    conditions: conditionsField(),
    prefillPod: z.string().optional().describe('The prefill pod currently paired for routing.'),
    decodeTargetPod: z.string().optional().describe('The decode pod that receives KV cache from prefillPod.'),
    pairs: z
      .array(
        z.strictObject({
          prefillPod: z.string().describe('Prefill pod.'),
          decodeTargetPod: z.string().describe('Decode pod.'),
          zone: z.string().optional().describe('Zone both run in, when they share one.'),
        }),
      )
      .optional()
      .describe('Every prefill/decode pairing, same zone first.'),
  })
  .describe('Observed state of a PrefillDecodingDisaggregation.');

export const PrefillDecodingDisaggregationSchema = resourceSchema(
  KIND_PDD,
  PrefillDecodingDisaggregationSpecSchema,
  PrefillDecodingDisaggregationStatusSchema,
);

export type PrefillDecodingDisaggregation = z.infer<typeof PrefillDecodingDisaggregationSchema>;
export type PrefillDecodingDisaggregationSpec = z.infer<typeof PrefillDecodingDisaggregationSpecSchema>;
