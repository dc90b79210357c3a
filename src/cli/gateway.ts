import { servicePolicyFromEnv } from '../api/index.ts';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { integer } from './flags.ts';
import {
  DEFAULT_GATEWAY_OPTIONS,
  Gateway,
  KubernetesRouteSource,
  localEmbedderFactory,
  StaticRouteSource,
  type RouteSource,
} from '../gateway/index.ts';
import { KubeClient } from '../kube/client.ts';

export const GATEWAY_USAGE = `  infctl gateway [--config routes.yaml | --gateway <namespace>/<name>] [options]
      Serve the OpenAI-compatible API. Routes come from a static file (--config, reloaded on change and on
      SIGHUP) or from Kubernetes (InferenceGateway + InferenceService status; KUBECONFIG or in-cluster).
      --port 8080  --host 0.0.0.0  --namespace <ns>  --max-body-bytes 4194304  --max-header-bytes 16384
      --connect-timeout 5000  --response-timeout 600000  --idle-timeout 300000 (ms)  --max-attempts 3
      --first-byte-timeout 15000 (ms: no response headers by then and no answer on /health = hung, retried)
      --max-json-depth 64  --max-json-elements 250000 (request bodies nested or holding more are a 400)
      --scrape-interval 1000 (ms)  --embedder-dir <all-MiniLM-L6-v2 folder>
      --admin-port <port>  --admin-host 127.0.0.1  --admin-token-file <file> (else INFCTL_GATEWAY_ADMIN_TOKEN)
          The admin API (hot prefixes, prefix ownership shifts) for the cache control loop; off without a port.
`;

export async function runGateway(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      gateway: { type: 'string' },
      namespace: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'max-header-bytes': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'response-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'first-byte-timeout': { type: 'string' },
      'max-json-depth': { type: 'string' },
      'max-json-elements': { type: 'string' },
      'max-attempts': { type: 'string' },
      'scrape-interval': { type: 'string' },
      'embedder-dir': { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-host': { type: 'string' },
      'admin-token-file': { type: 'string' },
    },
  });
  const log = (m: string) => process.stdout.write(`[gateway] ${m}\n`);
  if (values.gateway !== undefined && !/^[^/]+\/[^/]+$/.test(values.gateway))
    throw new Error(`--gateway takes <namespace>/<name>, not "${values.gateway}"`);
  const source: RouteSource = values.config
    ? new StaticRouteSource(values.config, log)
    : new KubernetesRouteSource(
        new KubeClient(),
        {
          gateway: values.gateway,
          namespace: values.namespace,
          allowedHosts: servicePolicyFromEnv().endpointHosts,
        },
        log,
      );
  const defaults = DEFAULT_GATEWAY_OPTIONS;
  let admin: { port: number; host: string; token: string } | undefined;
  if (values['admin-port'] !== undefined) {
    const token = values['admin-token-file']
      ? readFileSync(values['admin-token-file'], 'utf8').trim()
      : process.env.INFCTL_GATEWAY_ADMIN_TOKEN;
    if (!token)
      throw new Error('--admin-port needs a token: --admin-token-file <file> or INFCTL_GATEWAY_ADMIN_TOKEN');
    admin = {
      port: integer(values['admin-port'], '--admin-port', 0, 0),
      host: values['admin-host'] ?? '127.0.0.1',
      token,
    };
  }
  const embedder = localEmbedderFactory(values['embedder-dir'], log);
  const gateway = new Gateway({
    port: integer(values.port, '--port', defaults.port, 0),
    host: values.host ?? defaults.host,
    maxBodyBytes: integer(values['max-body-bytes'], '--max-body-bytes', defaults.maxBodyBytes),
    maxHeaderBytes: integer(values['max-header-bytes'], '--max-header-bytes', defaults.maxHeaderBytes),
    timeouts: {
      connectMs: integer(values['connect-timeout'], '--connect-timeout', defaults.timeouts.connectMs),
      responseMs: integer(values['response-timeout'], '--response-timeout', defaults.timeouts.responseMs),
      idleMs: integer(values['idle-timeout'], '--idle-timeout', defaults.timeouts.idleMs),
      firstByteMs: integer(
        values['first-byte-timeout'],
        '--first-byte-timeout',
        defaults.timeouts.firstByteMs,
      ),
    },
    jsonLimits: {
      maxDepth: integer(values['max-json-depth'], '--max-json-depth', defaults.jsonLimits.maxDepth),
      maxElements: integer(
        values['max-json-elements'],
        '--max-json-elements',
        defaults.jsonLimits.maxElements,
      ),
    },
    maxAttempts: integer(values['max-attempts'], '--max-attempts', defaults.maxAttempts),
    scrape: {
      ...defaults.scrape,
      intervalMs: integer(values['scrape-interval'], '--scrape-interval', defaults.scrape.intervalMs, 50),
    },
    localEmbedder: embedder,
    ...(admin ? { admin } : {}),
    log,
  });
  await source.start((snapshot) => {
    // The file's weights are read at start, before its first routes: the schedulers are built with the routes.
    if (source instanceof StaticRouteSource && source.weights) gateway.options.weights = source.weights;
    gateway.applyRoutes(snapshot);
    log(
      `routes: ${snapshot.routes.map((r) => `${r.model} (${r.targets.reduce((n, t) => n + t.endpoints.length, 0)} endpoints)`).join(', ') || 'none'}`,
    );
  });
  const port = await gateway.listen();
  log(`listening on http://${gateway.options.host}:${port} (routes from ${source.description})`);
  if (admin) log(`admin API on http://${admin.host}:${gateway.adminPort}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log('shutting down: waiting for requests in flight');
  await source.stop();
  await gateway.close();
  return 0;
}
