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
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * The endpoint's response headers minus hop-by-hop ones, for the client. A content-length stays when the
 * endpoint sent one (the body is relayed byte for byte): the client's answer then goes out unchunked, in one
 * write for a small answer instead of two.
 */
export function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const keepLength = headers['transfer-encoding'] === undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) && !(keepLength && name === 'content-length')) continue;
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
  headers['content-length'] = String(body.length);
  const target = targetOf(endpoint.url);
  const req = request({
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    // An absolute path replaces the base URL's own, as new URL(path, baseUrl) did.
    path,
    method: 'POST',
    agent,
    headers,
  });
  const host = target.host;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    let settled = false;
    /** One timer at a time: connecting, then the first-byte liveness checks up to the response deadline. */
    let timer: NodeJS.Timeout | undefined;
    let deadline = 0;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    const checkAlive = () => {
      if (settled) return;
      if (!liveness) {
        fail(new ConnectionFailure(`${host} sent nothing within ${timeouts.firstByteMs} ms`, true));
        req.destroy();
        return;
      }
      void liveness().then((state) => {
        if (settled) return;
        if (state !== 'dead') {
          waitForResponse();
          return;
        }
        fail(
          new ConnectionFailure(
            `${host} sent nothing within ${timeouts.firstByteMs} ms and does not answer /health: hung`,
            true,
          ),
        );
        req.destroy();
      });
    };
    /** The next check: a first-byte liveness check, or the response deadline if that comes first. */
    const waitForResponse = () => {
      const left = deadline - performance.now();
      if (left <= 0 || timeouts.firstByteMs >= timeouts.responseMs) {
        timer = setTimeout(noResponse, Math.max(0, left));
        return;
      }
      if (left <= timeouts.firstByteMs) timer = setTimeout(noResponse, left);
      else timer = setTimeout(checkAlive, timeouts.firstByteMs);
    };
    const noResponse = () => {
      fail(new ConnectionFailure(`${host} sent no response within ${timeouts.responseMs} ms`, true));
      req.destroy();
    };
    const connected = () => {
      clearTimeout(timer);
      if (settled) return;
      deadline = performance.now() + timeouts.responseMs;
      waitForResponse();
    };
    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) {
        connected();
        return;
      }
      timer = setTimeout(() => {
        fail(new ConnectionFailure(`connecting to ${host} timed out after ${timeouts.connectMs} ms`, true));
        req.destroy();
      }, timeouts.connectMs);
      socket.once('connect', connected);
    });
    req.once('close', () => clearTimeout(timer));
    req.on('response', (res) => {
      clearTimeout(timer);
      settled = true;
      res.setTimeout(timeouts.idleMs, () =>
        res.destroy(new Error(`${host} stalled for ${timeouts.idleMs} ms`)),
      );
      resolve(res);
    });
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      const stale = req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
      fail(new ConnectionFailure(`${host}: ${err.message}`, false, isLocalError(err), stale));
    });
  });
  // A rejection nobody awaited (the caller aborted first) must not crash the process.
  response.catch(() => {});
  req.end(body);
  return { request: req, response };
}

interface Target {
  protocol: string;
  hostname: string;
  port: string;
  host: string;
}

/** Base URLs parsed once (every request to an endpoint goes to the same one). */
const targets = new Map<string, Target>();

function targetOf(baseUrl: string): Target {
  let target = targets.get(baseUrl);
  if (!target) {
    const url = new URL(baseUrl);
    target = {
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port,
      host: url.host,
    };
    if (targets.size >= 4096) targets.clear();
    targets.set(baseUrl, target);
  }
  return target;
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
