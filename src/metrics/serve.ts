import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { readiness, renderReadiness, type Check } from '../health/checks.ts';

export interface HealthEndpoints {
  /** What /readyz runs: every check must hold. */
  checks: Record<string, Check>;
  /** The text /metrics serves (Prometheus exposition format 0.0.4). */
  metrics: () => Promise<string>;
}

/**
 * Parses `host:port` (INFCTL_CONTROLLER_METRICS_ADDRESS, INFCTL_WORKER_METRICS_ADDRESS); `:port` (no host) is
 * every interface, IPv6 as well as IPv4 where the machine has it.
 */
export function parseAddress(address: string, what = 'metrics address'): { host?: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at < 0 || address.slice(at + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${what} must be host:port, not "${address}"`);
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return host ? { host, port } : { port };
}

/**
 * One listener per process on host:port: /healthz (the process answers: liveness), /readyz (every check holds:
 * 200, else 503 with a line per check saying which failed and why) and /metrics (the text of `metrics`, plus
 * `infctl_readiness_check` per check).
 */
export async function serveHealth(address: string, endpoints: HealthEndpoints): Promise<Server> {
  const { host, port } = parseAddress(address);
  const own = new Registry();
  new Gauge({
    name: 'infctl_readiness_check',
    help: 'Whether each readiness check holds (1) or not (0), as /readyz reports it.',
    labelNames: ['check'] as const,
    registers: [own],
    async collect() {
      for (const c of (await readiness(endpoints.checks)).checks) this.set({ check: c.name }, c.ok ? 1 : 0);
    },
  });
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end('only GET and HEAD\n');
      return;
    }
    const text = (code: number, body: string) =>
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    const failed = (err: Error) => text(500, `${err.message}\n`);
    switch (path) {
      case '/healthz':
        text(200, 'ok\n');
        return;
      case '/readyz':
        readiness(endpoints.checks).then((r) => text(r.ready ? 200 : 503, renderReadiness(r)), failed);
        return;
      case '/metrics':
        Promise.all([endpoints.metrics(), own.metrics()]).then(
          ([theirs, ours]) =>
            res.writeHead(200, { 'content-type': own.contentType }).end(
              `${[theirs, ours]
                .map((t) => t.trimEnd())
                .filter(Boolean)
                .join('\n')}\n`,
            ),
          failed,
        );
        return;
      default:
        text(404, 'not found: /healthz, /readyz or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (host) server.listen(port, host, resolve);
    else server.listen(port, resolve);
  });
  return server;
}
