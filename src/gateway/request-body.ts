import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { GatewayError } from './errors.ts';

const Message = z.looseObject({
  role: z.string({ error: 'must be a string' }),
  content: z.union([z.string(), z.array(z.looseObject({})), z.null()]).optional(),
});

const Common = {
  model: z.string({ error: 'is required and must be a string' }).min(1, { error: 'must not be empty' }),
  stream: z.boolean({ error: 'must be a boolean' }).optional(),
  user: z.string({ error: 'must be a string' }).optional(),
};

export const ChatRequestSchema = z.looseObject({
  ...Common,
  messages: z.array(Message, { error: 'is required and must be an array of messages' }).min(1, {
    error: 'must hold at least one message',
  }),
});

export const CompletionRequestSchema = z.looseObject({
  ...Common,
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))], {
    error: 'is required and must be a string or an array',
  }),
});

export const EmbeddingRequestSchema = z.looseObject({
  model: Common.model,
  input: z.unknown(),
});

export type ChatRequest = z.infer<typeof ChatRequestSchema>;
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

/** Parses a JSON body with a schema; the error names the first wrong field the way OpenAI does (`param`). */
/**
 * Reads a request body of at most `limit` bytes; a larger one (declared or streamed) is a 413 naming `limitName`.
 */
export async function readBody(req: IncomingMessage, limit: number, limitName: string): Promise<Buffer> {
  const tooLarge = () =>
    new GatewayError(413, 'request_too_large', `The request body exceeds ${limit} bytes (${limitName}).`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseBody<T>(schema: z.ZodType<T>, raw: Buffer): T {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new GatewayError(
      400,
      'invalid_json',
      `The request body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new GatewayError(400, 'invalid_request', 'The request body must be a JSON object.');
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = (issue?.path ?? []).map(String).join('.') || null;
    throw new GatewayError(
      400,
      'invalid_request',
      `${param ?? 'body'}: ${issue?.message ?? 'invalid'}`,
      param,
    );
  }
  return parsed.data;
}
