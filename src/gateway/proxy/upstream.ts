import {
  Agent,
  request,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { Socket } from 'node:net';
import type { EndpointState } from '../endpoints/endpoint-state.ts';

export interface UpstreamTimeouts {
  /** Connecting to the endpoint. */
  connectMs: number;
  /** From sending the request to the response headers (a non-streaming answer arrives whole). */
  responseMs: number;
  /** Silence between two chunks of a response body. */
  idleMs: number;
  /**
   * Waiting this long for the response headers makes the gateway ask whether the endpoint is alive (its
   * /health); one that does not answer is hung and the attempt fails, to be retried elsewhere. One that answers
   * is busy (a long answer that is not streamed arrives whole), and the wait goes on up to `responseMs`.
   */
  firstByteMs: number;
}

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = {
  connectMs: 5_000,
  responseMs: 600_000,
  idleMs: 300_000,
  firstByteMs: 15_000,
};

/** Errors of the gateway's own host (descriptors, buffers, ports), never the endpoint's fault. */
const LOCAL_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

export function isLocalError(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    e = e.cause as typeof e, i++
  )
    if (typeof e.code === 'string' && LOCAL_ERRORS.has(e.code)) return true;
  return false;
}

/** The attempt failed before any response byte arrived: safe to try another endpoint. */
export class ConnectionFailure extends Error {
  constructor(
    message: string,
    readonly timedOut = false,
    /** The gateway's own resources failed (EMFILE...): not the endpoint's fault, and no other would fare better. */
    readonly local = false,
    /** A kept-alive connection the endpoint had closed meanwhile: a race, not a failure; a new one may work. */
    readonly stale = false,
  ) {
    super(message);
  }
}

/** Whether an endpoint answers at all: `unknown` when the gateway could not even ask (a local error). */
export type Liveness = 'alive' | 'dead' | 'unknown';

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
function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string> {
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

/** How the gateway reaches its endpoints: the timeouts, the shared connections, and a health probe. */
export interface UpstreamSettings {
  timeouts: UpstreamTimeouts;
  agent: Agent;
  /** Whether an endpoint that has sent nothing within firstByteMs still answers /health; absent: it is hung. */
  liveness?: (endpoint: EndpointState) => Promise<Liveness>;
}

/**
 * POSTs `body` to `path` on the endpoint with the client's headers minus the hop-by-hop ones. The response
 * promise rejects with ConnectionFailure when the connection fails or times out before the response headers;
 * after that, errors surface on the response stream.
 */
export function callUpstream(
  endpoint: EndpointState,
  path: string,
  clientHeaders: IncomingHttpHeaders,
  body: Buffer,
  settings: UpstreamSettings,
): UpstreamCall {
  const { timeouts, agent, liveness: probe } = settings;
  const liveness = probe && (() => probe(endpoint));
  const headers = forwardableHeaders(clientHeaders);
  const url = new URL(path, endpoint.url);
  const req = request(url, {
    method: 'POST',
    agent,
    headers: { ...headers, 'content-length': String(body.length) },
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
    let firstByteTimer: NodeJS.Timeout | undefined;
    const checkAlive = () => {
      if (settled) return;
      if (!liveness) {
        fail(new ConnectionFailure(`${url.host} sent nothing within ${timeouts.firstByteMs} ms`, true));
        req.destroy();
        return;
      }
      void liveness().then((state) => {
        if (settled) return;
        if (state !== 'dead') {
          firstByteTimer = setTimeout(checkAlive, timeouts.firstByteMs);
          return;
        }
        fail(
          new ConnectionFailure(
            `${url.host} sent nothing within ${timeouts.firstByteMs} ms and does not answer /health: hung`,
            true,
          ),
        );
        req.destroy();
      });
    };
    const connected = () => {
      clearTimeout(connectTimer);
      responseTimer = setTimeout(() => {
        clearTimeout(firstByteTimer);
        fail(new ConnectionFailure(`${url.host} sent no response within ${timeouts.responseMs} ms`, true));
        req.destroy();
      }, timeouts.responseMs);
      if (timeouts.firstByteMs < timeouts.responseMs)
        firstByteTimer = setTimeout(checkAlive, timeouts.firstByteMs);
    };
    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) connected();
      else socket.once('connect', connected);
    });
    req.once('close', () => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      clearTimeout(firstByteTimer);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      clearTimeout(firstByteTimer);
      settled = true;
      res.setTimeout(timeouts.idleMs, () =>
        res.destroy(new Error(`${url.host} stalled for ${timeouts.idleMs} ms`)),
      );
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      clearTimeout(firstByteTimer);
      const code = (err as NodeJS.ErrnoException).code;
      const stale = req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
      fail(new ConnectionFailure(`${url.host}: ${err.message}`, false, isLocalError(err), stale));
    });
  });
  // A rejection nobody awaited (the caller aborted first) must not crash the process.
  response.catch(() => {});
  req.end(body);
  return { request: req, response };
}

/** Largest answer body the gateway buffers: for a filter's `after`, or read from a prefill. */
export const MAX_CAPTURE_BYTES = 4 * 1024 * 1024;

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
