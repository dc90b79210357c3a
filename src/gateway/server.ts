import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import { GatewayError, sendError } from './errors.ts';
import type { InferencePath } from './inference.ts';
import type { RouteTable } from './routes/route-table.ts';

export interface ServerOptions {
  port: number;
  host: string;
  /** Largest request header block accepted (431 above). */
  maxHeaderBytes: number;
  log: (message: string) => void;
}

export interface ServerDeps {
  table: RouteTable;
  metrics: GatewayMetrics;
  inference: InferencePath;
}

interface PathRoute {
  method: 'GET' | 'POST';
  run: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> | void;
}

/** The gateway's HTTP server: connections, malformed requests and the table of paths it serves. */
export class GatewayServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly paths: Record<string, PathRoute>;

  constructor(
    private readonly options: ServerOptions,
    private readonly deps: ServerDeps,
  ) {
    const { inference } = deps;
    this.paths = {
      '/health': { method: 'GET', run: (_req, res) => this.health(res) },
      '/metrics': { method: 'GET', run: (_req, res) => this.serveMetrics(res) },
      '/v1/models': { method: 'GET', run: (_req, res) => this.listModels(res) },
      '/v1/chat/completions': { method: 'POST', run: (req, res, p) => inference.serve(req, res, 'chat', p) },
      '/v1/completions': { method: 'POST', run: (req, res, p) => inference.serve(req, res, 'completion', p) },
      '/v1/embeddings': { method: 'POST', run: (req, res, p) => inference.serve(req, res, 'embedding', p) },
    };
  }

  async listen(): Promise<number> {
    const server = createServer({ maxHeaderSize: this.options.maxHeaderBytes }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.options.log(`internal error on ${req.method} ${req.url}: ${err.stack ?? err.message}`);
        sendError(res, new GatewayError(500, 'internal_error', 'The gateway failed to handle the request.'));
      });
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return;
      const error =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new GatewayError(
              400,
              'request_too_large',
              `Request headers exceed ${this.options.maxHeaderBytes} bytes.`,
            )
          : new GatewayError(400, 'invalid_request', `Malformed HTTP request: ${err.message}`);
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      const body = error.body();
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    // accept() failing (EMFILE: out of descriptors) is the gateway's own trouble; it must not end the process.
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.server === server) this.options.log(`server error: ${err.code ?? ''} ${err.message}`);
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then drops the connections left. */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The usual request names a served path exactly; anything else is parsed (queries, dot segments, escapes).
    const url = req.url ?? '/';
    const path = Object.hasOwn(this.paths, url) ? url : new URL(url, 'http://gateway').pathname;
    const method = req.method ?? 'GET';
    const route = this.paths[path];
    if (!route) {
      sendError(
        res,
        new GatewayError(
          404,
          'not_found',
          `No such path: ${path}. The gateway serves ${Object.keys(this.paths).join(', ')}.`,
        ),
      );
      return;
    }
    if (method !== route.method) {
      res.setHeader('allow', route.method);
      sendError(
        res,
        new GatewayError(405, 'method_not_allowed', `${path} accepts ${route.method}, not ${method}.`),
      );
      return;
    }
    try {
      await route.run(req, res, path);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      sendError(res, err);
    }
  }

  private health(res: ServerResponse): void {
    const body = JSON.stringify({ status: 'ok', models: this.deps.table.models().length });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  private async serveMetrics(res: ServerResponse): Promise<void> {
    const text = await this.deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
    res.end(text);
  }

  private listModels(res: ServerResponse): void {
    const data = this.deps.table.models().map((route) => ({
      id: route.model,
      object: 'model',
      created: 0,
      owned_by: 'inference-controller',
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data }));
  }
}
