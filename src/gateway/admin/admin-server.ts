/**
 * The gateway's admin API, on its own port and behind a bearer token: the cache control loop reads the hot
 * prefixes of a model and shifts their ownership from one endpoint to another. Everything it changes lives in
 * memory (see OwnershipTable, HotPrefixes).
 *
 *   GET    /admin/hot-prefixes?model=M[&endpoint=E][&limit=N][&prompts=true]
 *   GET    /admin/ownership?model=M
 *   POST   /admin/ownership   {model, from, to, count?, keys?, ttlSeconds?, reason?}
 *   DELETE /admin/ownership?model=M[&endpoint=E]
 *
 * Endpoints are named by URL or by endpoint name.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { EndpointState } from '../endpoints/endpoint-state.ts';
import { GatewayError, sendError } from '../errors.ts';
import { parseBody, readBody } from '../request-body.ts';
import { DEFAULT_OWNERSHIP_TTL_MS, type OwnershipTable } from '../scheduling/ownership.ts';
import type { HotPrefixes } from './hot-prefixes.ts';
import type { OwnershipShiftAnswer } from '../../api/index.ts';

export interface AdminOptions {
  port: number;
  host: string;
  token: string;
}

export interface AdminState {
  hotPrefixes: HotPrefixes;
  ownership: OwnershipTable;
  endpoints: () => EndpointState[];
  log: (message: string) => void;
}

const MAX_ADMIN_BODY = 64 * 1024;

const ShiftSchema = z.object({
  model: z.string().min(1),
  from: z.string().min(1).describe('URL or name of the endpoint that gives up prefixes'),
  to: z.string().min(1).describe('URL or name of the endpoint that receives them'),
  count: z.number().int().min(1).max(4096).optional(),
  keys: z.array(z.number().int().min(0)).max(4096).optional(),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional(),
  reason: z.string().max(1000).optional(),
});
export type OwnershipShift = z.infer<typeof ShiftSchema>;

const digest = (text: string) => createHash('sha256').update(text).digest();

export class AdminServer {
  private server?: Server;
  private readonly tokenDigest: Buffer;

  constructor(
    readonly options: AdminOptions,
    private readonly state: AdminState,
  ) {
    if (options.token.length < 16)
      throw new Error('the gateway admin token must be at least 16 characters long');
    this.tokenDigest = digest(options.token);
  }

  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (err instanceof GatewayError) return sendError(res, err);
        this.state.log(`admin API error on ${req.method} ${req.url}: ${(err as Error).message}`);
        sendError(
          res,
          new GatewayError(500, 'internal_error', 'The admin API failed to handle the request.'),
        );
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    return match !== null && timingSafeEqual(digest(match[1] ?? ''), this.tokenDigest);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!this.authorized(req))
      throw new GatewayError(
        401,
        'unauthorized',
        'The admin API needs "Authorization: Bearer <admin token>".',
      );
    const method = req.method ?? 'GET';
    const now = Date.now();
    if (url.pathname === '/admin/hot-prefixes' && method === 'GET') {
      const model = requiredParam(url, 'model');
      const endpointParam = url.searchParams.get('endpoint');
      const endpoint = endpointParam !== null ? this.endpointUrl(endpointParam) : undefined;
      const limit = Number(url.searchParams.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 1)
        throw new GatewayError(
          400,
          'invalid_request',
          `limit: must be a positive integer, not "${url.searchParams.get('limit')}"`,
          'limit',
        );
      const withPrompts = url.searchParams.get('prompts') === 'true';
      const prefixes = this.state.hotPrefixes.hottest(model, now, endpoint, limit).map((p) => ({
        key: p.key,
        endpoint: p.endpoint,
        requests: Math.round(p.score * 100) / 100,
        role: p.role,
        owner: this.state.ownership.owner(model, p.role, p.key, now) ?? null,
        ...(withPrompts && p.prompt ? { prompt: p.prompt } : {}),
      }));
      return sendJson(res, 200, { model, prefixes });
    }
    if (url.pathname === '/admin/ownership') {
      if (method === 'GET') {
        const model = requiredParam(url, 'model');
        return sendJson(res, 200, { model, entries: this.state.ownership.list(model, now) });
      }
      if (method === 'DELETE') {
        const model = requiredParam(url, 'model');
        const endpointParam = url.searchParams.get('endpoint');
        const endpoint = endpointParam !== null ? this.endpointUrl(endpointParam) : undefined;
        const removed = this.state.ownership.clear(model, endpoint);
        this.state.log(`admin: cleared ${removed} ownership entries of model ${model}`);
        return sendJson(res, 200, { model, removed });
      }
      if (method === 'POST')
        return sendJson(
          res,
          200,
          this.shift(parseBody(ShiftSchema, await readBody(req, MAX_ADMIN_BODY, 'the admin API limit')), now),
        );
    }
    throw new GatewayError(
      404,
      'not_found',
      `No such admin route: ${method} ${url.pathname}. The admin API serves GET /admin/hot-prefixes and GET, POST, DELETE /admin/ownership.`,
    );
  }

  /** Moves the hottest prefixes `from` serves (or the listed keys) to `to`; returns what moved, prompts included. */
  shift(request: OwnershipShift, now: number) {
    const fromEndpoint = this.endpoint(request.from, 'from');
    const toEndpoint = this.endpoint(request.to, 'to');
    const [from, to] = [fromEndpoint.url, toEndpoint.url];
    if (from === to)
      throw new GatewayError(400, 'invalid_request', 'from and to name the same endpoint', 'to');
    if (fromEndpoint.role !== toEndpoint.role)
      throw new GatewayError(
        400,
        'invalid_request',
        `to: a ${fromEndpoint.role} endpoint's prefixes can only move to another ${fromEndpoint.role} endpoint; ${toEndpoint.name} serves ${toEndpoint.role}`,
        'to',
      );
    const served = this.state.hotPrefixes.hottest(request.model, now, from);
    const keys = request.keys;
    const chosen = keys
      ? served.filter((p) => keys.includes(p.key))
      : served.slice(0, request.count ?? Math.max(1, Math.ceil(served.length / 2)));
    const expiresAt = now + (request.ttlSeconds ? request.ttlSeconds * 1000 : DEFAULT_OWNERSHIP_TTL_MS);
    for (const p of chosen)
      this.state.ownership.assign(request.model, {
        key: p.key,
        role: p.role,
        endpoint: to,
        expiresAt,
        reason: request.reason,
      });
    this.state.log(
      `admin: moved ${chosen.length} of ${served.length} hot prefixes of model ${request.model} from ${from} to ${to}${request.reason ? ` (${request.reason})` : ''}`,
    );
    const answer: OwnershipShiftAnswer = {
      model: request.model,
      from,
      to,
      expiresAt: new Date(expiresAt).toISOString(),
      served: served.length,
      moved: chosen.map((p) => ({
        key: p.key,
        requests: Math.round(p.score * 100) / 100,
        prompt: p.prompt ?? null,
      })),
    };
    return answer;
  }

  private endpointUrl(text: string, param = 'endpoint'): string {
    return this.endpoint(text, param).url;
  }

  private endpoint(text: string, param: string): EndpointState {
    const normalized = text.replace(/\/+$/, '');
    const known = this.state.endpoints();
    const endpoint = known.find((e) => e.url === normalized || e.name === text);
    if (!endpoint)
      throw new GatewayError(
        404,
        'not_found',
        `${param}: "${text}" is not an endpoint of this gateway (known: ${known.map((e) => `${e.name} ${e.url}`).join(', ') || 'none'})`,
        param,
      );
    return endpoint;
  }
}

function requiredParam(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (!value)
    throw new GatewayError(400, 'invalid_request', `the query parameter "${name}" is required`, name);
  return value;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
