import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { z } from 'zod';

/** Temporal connection settings from the environment, so the same binaries run against any cluster or Temporal Cloud. */
const TemporalEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('inference-controller'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
});

export type TemporalEnv = z.infer<typeof TemporalEnvSchema>;

export function temporalEnv(env: NodeJS.ProcessEnv = process.env): TemporalEnv {
  const parsed = TemporalEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `invalid Temporal settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  if ((parsed.data.TEMPORAL_TLS_CERT === undefined) !== (parsed.data.TEMPORAL_TLS_KEY === undefined)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
  }
  return parsed.data;
}

/** Options for Connection.connect and NativeConnection.connect alike. */
export function connectionOptions(env: TemporalEnv): ConnectionOptions & { apiKey?: string } {
  const mtls =
    env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY
      ? { crt: readFileSync(env.TEMPORAL_TLS_CERT), key: readFileSync(env.TEMPORAL_TLS_KEY) }
      : undefined;
  const useTls = env.TEMPORAL_TLS === 'true' || mtls !== undefined || env.TEMPORAL_API_KEY !== undefined;
  return {
    address: env.TEMPORAL_ADDRESS,
    ...(useTls
      ? {
          tls: {
            ...(mtls ? { clientCertPair: mtls } : {}),
            ...(env.TEMPORAL_TLS_CA ? { serverRootCACertificate: readFileSync(env.TEMPORAL_TLS_CA) } : {}),
            ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
          },
        }
      : {}),
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
  };
}

export async function temporalClient(env: TemporalEnv = temporalEnv()): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(env));
  return new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
}
