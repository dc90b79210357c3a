import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { GatewayError, type GatewayErrorCode } from './errors.ts';

/** How deep and how large a request's JSON may be; checked in one linear pass before it is parsed. */
export interface JsonLimits {
  /** Nesting of arrays and objects (the body object is depth 1). */
  maxDepth: number;
  /** Array elements and object members in the whole body. */
  maxElements: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxElements: 250_000 };

/** Largest max_tokens accepted: above any context length served today, far below what overflows an engine. */
const MAX_TOKENS_LIMIT = 16_777_216;

/** The top-level fields that carry the prompt (and its model): no second spelling of them is accepted. */
const PROMPT_KEYS = ['model', 'messages', 'prompt', 'input'];
/** The fields of a message and of a content part the gateway reads, likewise. */
const MESSAGE_KEYS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id'];
const PART_KEYS = ['type', 'text'];

/**
 * JSON keys as the engines match them: vLLM-compatible Go servers decode keys case-insensitively (with Unicode
 * simple folding, so "ſ" is an "s"), and every parser keeps the last of two equal keys.
 */
function foldKey(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

const describeValue = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'an array'
      : typeof value === 'string'
        ? 'a string'
        : typeof value === 'object'
          ? 'an object'
          : typeof value === 'boolean'
            ? 'a boolean'
            : JSON.stringify(value);

function intParam(min: number, max: number) {
  const error = (issue: { input?: unknown }) =>
    `must be an integer from ${min} to ${max}, not ${describeValue(issue.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error }).nullable().optional();
}

function numberParam(min: number, max: number) {
  const error = (issue: { input?: unknown }) =>
    `must be a number from ${min} to ${max}, not ${describeValue(issue.input)}`;
  return z.number({ error }).min(min, { error }).max(max, { error }).nullable().optional();
}

/** Parameters whose range errors are integer errors in the OpenAI codes. */
const INTEGER_PARAMS = new Set([
  'max_tokens',
  'max_completion_tokens',
  'n',
  'best_of',
  'seed',
  'top_k',
  'top_logprobs',
  'logprobs',
]);

const stop = z
  .union([z.string(), z.array(z.string()).max(64)], {
    error: 'must be a string or an array of at most 64 strings',
  })
  .nullable()
  .optional();

/** Sampling parameters both generation APIs share (OpenAI's ranges; top_k, min_p and repetition_penalty are vLLM's). */
const Sampling = {
  max_tokens: intParam(1, MAX_TOKENS_LIMIT),
  n: intParam(1, 128),
  temperature: numberParam(0, 2),
  top_p: numberParam(0, 1),
  presence_penalty: numberParam(-2, 2),
  frequency_penalty: numberParam(-2, 2),
  seed: intParam(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  stop,
  top_k: intParam(-1, 1_000_000),
  min_p: numberParam(0, 1),
  repetition_penalty: numberParam(0, 2),
  stream_options: z
    .looseObject(
      { include_usage: z.boolean({ error: 'must be a boolean' }).nullable().optional() },
      { error: 'must be an object' },
    )
    .nullable()
    .optional(),
};

const Message = z
  .looseObject({
    role: z.string({ error: 'must be a string' }),
    content: z.union([z.string(), z.array(z.looseObject({})), z.null()]).optional(),
  })
  .superRefine((message, ctx) => {
    rejectVariants(message, MESSAGE_KEYS, ctx);
    if (Array.isArray(message.content))
      message.content.forEach((part, i) => rejectVariants(part, PART_KEYS, ctx, ['content', i]));
  });

const Common = {
  model: z.string({ error: 'is required and must be a string' }).min(1, { error: 'must not be empty' }),
  stream: z.boolean({ error: 'must be a boolean' }).nullable().optional(),
  user: z.string({ error: 'must be a string' }).optional(),
};

export const ChatRequestSchema = z.looseObject({
  ...Common,
  ...Sampling,
  max_completion_tokens: intParam(1, MAX_TOKENS_LIMIT),
  logprobs: z.boolean({ error: 'must be a boolean' }).nullable().optional(),
  top_logprobs: intParam(0, 20),
  messages: z.array(Message, { error: 'is required and must be an array of messages' }).min(1, {
    error: 'must hold at least one message',
  }),
});

export const CompletionRequestSchema = z.looseObject({
  ...Common,
  ...Sampling,
  best_of: intParam(1, 128),
  logprobs: intParam(0, 20),
  echo: z.boolean({ error: 'must be a boolean' }).nullable().optional(),
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
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;

/** The OpenAI APIs the gateway serves, each at its own path. */
export type InferenceKind = 'chat' | 'completion' | 'embedding';

/** A request body parsed once, at the boundary, with its API's schema: the rest of the gateway reads it typed. */
export type InferenceRequest =
  | { kind: 'chat'; body: ChatRequest }
  | { kind: 'completion'; body: CompletionRequest }
  | { kind: 'embedding'; body: EmbeddingRequest };

/** A key that folds to one of `canonical` but is spelled otherwise: the gateway and the engine would disagree. */
function rejectVariants(
  object: Record<string, unknown>,
  canonical: readonly string[],
  ctx: z.RefinementCtx,
  prefix: (string | number)[] = [],
): void {
  for (const key of Object.keys(object)) {
    const folded = foldKey(key);
    if (folded !== key && canonical.includes(folded))
      ctx.addIssue({
        code: 'custom',
        path: [...prefix, key],
        message: variantMessage(key, folded),
        params: { code: 'ambiguous_key' },
      });
  }
}

function variantMessage(key: string, canonical: string): string {
  return `the key "${key}" is another spelling of "${canonical}"; engines read JSON keys case-insensitively, so only "${canonical}", once, is accepted`;
}

/**
 * Reads a request body of at most `limit` bytes; a larger one (declared or streamed) is a 413 naming `limitName`.
 */
export function readBody(req: IncomingMessage, limit: number, limitName: string): Promise<Buffer> {
  const tooLarge = () =>
    new GatewayError(413, 'request_too_large', `The request body exceeds ${limit} bytes (${limitName}).`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  // Events rather than an async iterator: one promise per request, not one per chunk.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const [only] = chunks;
      resolve(chunks.length === 1 && only ? only : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the client closed the connection before sending the whole body'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The index of the quote that ends the string starting at `start` (text.length if none): the next quote not
 * escaped by an odd run of backslashes before it. indexOf finds candidates at native speed, where a loop over
 * every character of a long prompt cost most of this pass.
 */
function closingQuote(text: string, start: number): number {
  for (let from = start; ;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    let b = q - 1;
    while (b >= start && text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    from = q + 1;
  }
}

/**
 * One linear pass over the JSON text before it is parsed: the nesting depth and the count of array elements and
 * object members stay within `limits`, and no top-level key appears twice (escapes decoded). It does not validate
 * the JSON; JSON.parse does that next. Everything downstream (zod, the prompt text, hashing) then walks a
 * bounded tree.
 */
export function checkJsonShape(text: string, limits: JsonLimits): void {
  let depth = 0;
  let elements = 0;
  /** Per open container: true for an object. */
  const objects: boolean[] = [];
  const topKeys = new Set<string>();
  let expectKey = false;
  let firstOfContainer = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (firstOfContainer) {
      firstOfContainer = false;
      if (c !== 0x5d && c !== 0x7d) elements++;
    }
    if (c === QUOTE) {
      const start = i + 1;
      i = closingQuote(text, start);
      if (expectKey) {
        expectKey = false;
        if (depth === 1) {
          const raw = text.slice(start, i);
          const key = raw.includes('\\') ? decodeKey(raw) : raw;
          if (topKeys.has(key))
            throw new GatewayError(
              400,
              'ambiguous_key',
              `${key}: the key appears twice in the request body; send it once.`,
              key,
            );
          topKeys.add(key);
        }
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > limits.maxDepth)
        throw new GatewayError(
          400,
          'json_too_deep',
          `The request body nests arrays and objects deeper than ${limits.maxDepth} levels (the gateway's --max-json-depth).`,
        );
      objects.push(c === 0x7b);
      expectKey = c === 0x7b;
      firstOfContainer = true;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth > 0) {
        depth--;
        objects.pop();
      }
      expectKey = false;
    } else if (c === 0x2c) {
      elements++;
      expectKey = objects[objects.length - 1] === true;
    }
    if (elements > limits.maxElements)
      throw new GatewayError(
        400,
        'json_too_large',
        `The request body holds more than ${limits.maxElements} array elements and object members (the gateway's --max-json-elements).`,
      );
  }
}

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  let value = json;
  for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
  return value;
}

function decodeKey(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw; // invalid JSON: JSON.parse reports it next
  }
}

/** OpenAI's codes for a wrong parameter: its type, or which side of its range. */
function issueCode(issue: z.core.$ZodIssue, param: string | null, input: unknown): GatewayErrorCode {
  if (issue.code === 'custom')
    return (issue.params as { code?: GatewayErrorCode } | undefined)?.code ?? 'invalid_request';
  const kind = param !== null && INTEGER_PARAMS.has(param) ? 'integer' : 'decimal';
  if (issue.code === 'too_small' && issue.origin === 'number') return `${kind}_below_min_value`;
  if (issue.code === 'too_big' && (issue.origin === 'number' || issue.origin === 'int'))
    return `${kind}_above_max_value`;
  if (issue.code === 'invalid_type' && input !== undefined) return 'invalid_type';
  return 'invalid_request';
}

/**
 * Parses a JSON body with a schema, within `limits`; the error names the first wrong field the way OpenAI does
 * (`param`, and codes such as `integer_below_min_value`).
 */
export function parseBody<T>(schema: z.ZodType<T>, raw: Buffer, limits: JsonLimits = DEFAULT_JSON_LIMITS): T {
  const text = raw.toString('utf8');
  checkJsonShape(text, limits);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GatewayError(
      400,
      'invalid_json',
      `The request body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new GatewayError(400, 'invalid_request', 'The request body must be a JSON object.');
  for (const key of Object.keys(json)) {
    const folded = foldKey(key);
    if (folded !== key && PROMPT_KEYS.includes(folded))
      throw new GatewayError(400, 'ambiguous_key', `${key}: ${variantMessage(key, folded)}.`, key);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = (issue?.path ?? []).map(String).join('.') || null;
    throw new GatewayError(
      400,
      issue ? issueCode(issue, param, valueAt(json, issue.path)) : 'invalid_request',
      `${param ?? 'body'}: ${issue?.message ?? 'invalid'}`,
      param,
    );
  }
  return parsed.data;
}

/** The request's body limits: its size in bytes and the shape of its JSON. */
export interface BodyLimits {
  maxBodyBytes: number;
  json: JsonLimits;
}

/**
 * Reads and parses an inference request with its API's schema, within `limits`. Returns the typed request and
 * the client's own bytes (sent upstream unchanged unless the gateway has to change the body).
 */
export async function readInferenceRequest(
  req: IncomingMessage,
  kind: InferenceKind,
  limits: BodyLimits,
): Promise<{ request: InferenceRequest; raw: Buffer }> {
  const raw = await readBody(req, limits.maxBodyBytes, "the gateway's --max-body-bytes");
  const request: InferenceRequest =
    kind === 'chat'
      ? { kind, body: parseBody(ChatRequestSchema, raw, limits.json) }
      : kind === 'completion'
        ? { kind, body: parseBody(CompletionRequestSchema, raw, limits.json) }
        : { kind, body: parseBody(EmbeddingRequestSchema, raw, limits.json) };
  return { request, raw };
}
