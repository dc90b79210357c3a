import { GatewayError, type GatewayErrorCode } from '../errors.ts';

/** Largest engine error body the gateway reads to rewrite; a larger one is replaced by a generic message. */
export const MAX_ENGINE_ERROR_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 1000;

function codeFor(status: number): GatewayErrorCode {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'upstream_unavailable';
  if (status === 504) return 'upstream_timeout';
  if (status >= 500) return 'upstream_error';
  return 'invalid_request';
}

const GO_KINDS: [RegExp, string][] = [
  [/^u?int\d*$/, 'an integer'],
  [/^float\d*$/, 'a number'],
  [/^string$/, 'a string'],
  [/^bool$/, 'a boolean'],
  [/^\[\]/, 'an array'],
  [/^map\[/, 'an object'],
];
const JSON_KINDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  bool: 'a boolean',
  array: 'an array',
  object: 'an object',
};

/** Go's decoding errors name its structs; the client needs the field and the type it should have sent. */
const UNMARSHAL =
  /json: cannot unmarshal (\w+)(?: number [^ ]+)? into Go (?:struct field (?:[\w*]+\.)*(\w+)|value) of type ([\w.[\]*]+)/;

/** The engine's own text, minus the implementation details (Go type names) that mean nothing to a client. */
export function cleanEngineMessage(message: string): { message: string; param?: string } {
  const unmarshal = UNMARSHAL.exec(message);
  if (unmarshal) {
    const [, got = '', field, goType = ''] = unmarshal;
    const wanted = GO_KINDS.find(([re]) => re.test(goType.split('.').pop() ?? ''))?.[1] ?? 'another type';
    const what = field ? `${field} must be ${wanted}` : `a value must be ${wanted}`;
    return {
      message: `The engine could not read the request: ${what}, not ${JSON_KINDS[got] ?? got}.`,
      param: field,
    };
  }
  const cleaned = message
    .replace(/Go struct field (?:[\w*]+\.)+(\w+)/g, 'field $1')
    .replace(/Go value of type [\w.[\]*]+/g, 'value')
    .replace(/ of type [\w.[\]*]*\.[\w[\]*]+/g, '');
  return {
    message: cleaned.length > MAX_MESSAGE_CHARS ? `${cleaned.slice(0, MAX_MESSAGE_CHARS)}…` : cleaned,
  };
}

function messageOf(body: Buffer): { message?: string; param?: string } {
  const text = body.toString('utf8').trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: text || undefined };
  }
  const record = (json ?? {}) as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'string') return { message: error };
  if (error && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    return {
      message: typeof e.message === 'string' ? e.message : undefined,
      param: typeof e.param === 'string' ? e.param : undefined,
    };
  }
  if (typeof record.message === 'string') return { message: record.message };
  // FastAPI validation errors: {"detail": [{"loc": [...], "msg": "..."}]}
  if (Array.isArray(record.detail)) {
    const first = record.detail[0] as { loc?: unknown[]; msg?: unknown } | undefined;
    const loc = Array.isArray(first?.loc) ? first.loc.filter((p) => p !== 'body').join('.') : undefined;
    return { message: typeof first?.msg === 'string' ? first.msg : undefined, param: loc || undefined };
  }
  if (typeof record.detail === 'string') return { message: record.detail };
  return { message: text };
}

/**
 * An engine's error response as the gateway's own OpenAI-shaped error: the engine's status, a string code,
 * and the engine's message cleaned of implementation details. vLLM and the simulator send numeric codes and
 * their own `type`s; clients switch on the gateway's codes.
 */
export function engineError(status: number, body: Buffer, endpoint: string): GatewayError {
  const found = messageOf(body);
  const cleaned = found.message ? cleanEngineMessage(found.message) : undefined;
  const message =
    cleaned?.message ?? `The engine ${endpoint} answered HTTP ${status} without an explanation.`;
  return new GatewayError(status, codeFor(status), message, found.param ?? cleaned?.param ?? null);
}
