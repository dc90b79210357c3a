import { z } from 'zod';
import { resourceRef } from './common.ts';
import { conditionsField, observedGenerationField } from './conditions.ts';
import { resourceSchema } from './resource.ts';

export const KIND_INFERENCE_GATEWAY = 'InferenceGateway';

/** How load is measured when choosing among a model's endpoints. */
export const SCHEDULING_POLICIES = ['round-robin', 'least-loaded', 'gpu-load-aware'] as const;
/** Which affinity, if any, is layered on top of the load signal. */
export const ROUTE_STRATEGIES = [
  'RoundRobin',
  'LeastLoaded',
  'PrefixHash',
  'SessionAffinity',
  'PrecisePrefix',
] as const;

const weight = () =>
  z
    .int({ error: 'must be an integer' })
    .min(0, { error: 'must be between 0 and 1000' })
    .max(1000, { error: 'must be between 0 and 1000' });

const RouteSchema = z
  .strictObject({
    model: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256)
      .describe('The model name in client requests ("model" of an OpenAI request).'),
    inferenceServiceRef: resourceRef('The InferenceService (same namespace) that serves the model.'),
    weight: weight()
      .default(100)
      .describe('Relative share of traffic for inferenceServiceRef when split lists more services.'),
    split: z
      .array(
        z.strictObject({
          inferenceServiceRef: resourceRef('Another InferenceService serving the same model.'),
          weight: weight().describe('Relative share of traffic for this service.'),
        }),
      )
      .default([])
      .describe("More services sharing the route's traffic by weight (canaries, migrations)."),
  })
  .describe('Sends requests for one model to an InferenceService.');

export const InferenceGatewaySpecSchema = z
  .strictObject({
    schedulingPolicy: z
      .enum(SCHEDULING_POLICIES)
      .default('gpu-load-aware')
      .describe(
        'The load signal: round-robin ignores load; least-loaded counts in-flight requests; gpu-load-aware uses KV-cache usage and queue depth scraped from each replica.',
      ),
    routeStrategy: z
      .enum(ROUTE_STRATEGIES)
      .default('PrefixHash')
      .describe(
        'The affinity: PrefixHash hashes the prompt prefix with bounded load; SessionAffinity pins a session; PrecisePrefix remembers which replica holds which prefix; RoundRobin and LeastLoaded add none.',
      ),
    sessionAffinity: z
      .boolean()
      .default(false)
      .describe(
        'Pin multi-turn sessions (session header, or the OpenAI "user" field) to one replica while it is healthy.',
      ),
    sessionHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, { error: 'must be an HTTP header name' })
      .default('x-session-id')
      .describe('The request header that names a session.'),
    loadBound: z
      .number()
      .min(1, { error: 'must be at least 1' })
      .max(10)
      .default(1.25)
      .describe(
        'Bounded-load factor for PrefixHash and session affinity: no replica takes more than this times the mean load.',
      ),
    listener: z
      .strictObject({
        port: z.int().min(1).max(65535).default(8080).describe('Port the gateway listens on.'),
      })
      .prefault({})
      .describe('Where the gateway accepts traffic.'),
    replicas: z.int().min(1).default(1).describe('Gateway replicas; they route alike without shared state.'),
    routes: z
      .array(RouteSchema)
      .min(1, { error: 'must list at least one route' })
      .superRefine((routes, ctx) => {
        const seen = new Map<string, number>();
        routes.forEach((route, i) => {
          const first = seen.get(route.model);
          if (first !== undefined) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'model'],
              message: `duplicate route for model "${route.model}" (also routes[${first}])`,
            });
          } else seen.set(route.model, i);
        });
      })
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['model'] })
      .describe('One route per model name.'),
  })
  .describe('Desired state of an InferenceGateway: the routing layer.');

const RouteStatusSchema = z.strictObject({
  model: z.string().describe("The route's model."),
  inferenceServiceRef: z.string().describe('The service it resolves to.'),
  ready: z.boolean().describe('Whether the service exists and has a ready endpoint.'),
  endpoints: z.int().min(0).default(0).describe('Ready endpoints behind the route.'),
  reason: z.string().optional().describe('Why the route is not ready.'),
});

const InferenceGatewayStatusSchema = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    conditions: conditionsField(),
    routes: z.array(RouteStatusSchema).optional().describe('Readiness of every route.'),
    readyRoutes: z.string().optional().describe('Ready routes out of all, for example "1/2".'),
    address: z
      .string()
      .optional()
      .describe("The deployed gateway's OpenAI-compatible endpoint (its Service on spec.listener.port)."),
    adminUrl: z
      .string()
      .optional()
      .describe("The deployed gateway's admin API, for the worker's cache transfers."),
    adminSecret: z
      .string()
      .optional()
      .describe('The Secret (same namespace) holding the admin API token under "token".'),
    replicas: z.int().min(0).optional().describe('Gateway replicas asked for.'),
    readyReplicas: z.int().min(0).optional().describe('Gateway replicas ready.'),
  })
  .describe('Observed state of an InferenceGateway.');

export const InferenceGatewaySchema = resourceSchema(
  KIND_INFERENCE_GATEWAY,
  InferenceGatewaySpecSchema,
  InferenceGatewayStatusSchema,
);

export type InferenceGateway = z.infer<typeof InferenceGatewaySchema>;
export type InferenceGatewaySpec = z.infer<typeof InferenceGatewaySpecSchema>;
