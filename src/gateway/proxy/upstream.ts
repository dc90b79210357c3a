import {
  Agent,
  request,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { Socket } from 'node:net';

export interface UpstreamTimeouts {
  /** Connecting to the endpoint. */
  connectMs: number;
  /** From sending the request to the response headers (a non-streaming answer arrives whole). */
  responseMs: number;
  /** Silence between two chunks of a response body. */
  idleMs: number;
}

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = {
  connectMs: 5_000,
  responseMs: 600_000,
  idleMs: 300_000,
};

/** The attempt failed before any response byte arrived: safe to try another endpoint. */
export class ConnectionFailure extends Error {
  constructor(
    message: string,
    readonly timedOut = false,
  ) {
    super(message);
  }
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** The client's headers minus hop-by-hop ones, for the upstream request. */
export function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The endpoint's response headers minus hop-by-hop ones, for the client. */
export function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface UpstreamCall {
  request: ClientRequest;
  response: Promise<IncomingMessage>;
}

/** Keep-alive connections to the endpoints, shared by every request of a gateway. */
export function upstreamAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 });
}

/**
 * POSTs (or GETs) to an endpoint. The response promise rejects with ConnectionFailure when the connection
 * fails or times out before the response headers; after that, errors surface on the response stream.
 */
export function callUpstream(
  baseUrl: string,
  path: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: Buffer | undefined,
  timeouts: UpstreamTimeouts,
  agent: Agent,
): UpstreamCall {
  const url = new URL(path, baseUrl);
  const req = request(url, {
    method,
    agent,
    headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    const connectTimer = setTimeout(() => {
      fail(new ConnectionFailure(`connecting to ${url.host} timed out after ${timeouts.connectMs} ms`, true));
      req.destroy();
    }, timeouts.connectMs);
    let responseTimer: NodeJS.Timeout | undefined;
    const connected = () => {
      clearTimeout(connectTimer);
      responseTimer = setTimeout(() => {
        fail(new ConnectionFailure(`${url.host} sent no response within ${timeouts.responseMs} ms`, true));
        req.destroy();
      }, timeouts.responseMs);
    };
    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) connected();
      else socket.once('connect', connected);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      settled = true;
      res.setTimeout(timeouts.idleMs, () =>
        res.destroy(new Error(`${url.host} stalled for ${timeouts.idleMs} ms`)),
      );
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      fail(new ConnectionFailure(`${url.host}: ${err.message}`));
    });
  });
  // A rejection nobody awaited (the caller aborted first) must not crash the process.
  response.catch(() => {});
  req.end(body);
  return { request: req, response };
}

/** Reads a whole response body, up to `limit` bytes. */
export async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) throw new Error(`body larger than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
