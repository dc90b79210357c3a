import type { ServerResponse } from 'node:http';

/** Stable error codes the gateway returns; clients may switch on them. */
export type GatewayErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'invalid_type'
  | 'integer_below_min_value'
  | 'integer_above_max_value'
  | 'decimal_below_min_value'
  | 'decimal_above_max_value'
  | 'ambiguous_key'
  | 'json_too_deep'
  | 'json_too_large'
  | 'request_too_large'
  | 'model_not_found'
  | 'not_found'
  | 'method_not_allowed'
  | 'prompt_blocked'
  | 'no_healthy_upstream'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'gateway_overloaded'
  | 'rate_limited'
  | 'unauthorized'
  | 'internal_error';

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  502: 'server_error',
  503: 'server_error',
  504: 'server_error',
};

/** An error the client should see, in the OpenAI shape: {"error": {message, type, param, code}}. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: GatewayErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  body(): string {
    return JSON.stringify({
      error: {
        message: this.message,
        type: TYPES[this.status] ?? 'server_error',
        param: this.param,
        code: this.code,
      },
    });
  }
}

export function sendError(res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = error.body();
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
