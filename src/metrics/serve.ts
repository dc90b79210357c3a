import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Serves a registry on http://host:port/metrics (host:port as in INFCTL_*_METRICS_ADDRESS). */
export async function serveMetrics(address: string, registry: Registry): Promise<Server> {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`metrics address must be host:port, not "${address}"`);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address.slice(0, at) || '0.0.0.0', resolve);
  });
  return server;
}
