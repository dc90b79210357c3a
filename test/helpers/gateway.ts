import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  Gateway,
  localEmbedderFactory,
  StaticRouteSource,
  type GatewayOptions,
} from '../../src/gateway/index.ts';
import { metricSum, parseExposition } from '../../src/metrics/exposition.ts';
import type { Simulator } from './components.ts';

/** The model every gateway test routes. */
export const MODEL = 'llama3-70b';
const endpointsOf = (sims: Simulator[]) => sims.map((s, i) => ({ url: s.url, name: `sim-${i}` }));
/** A route file: MODEL served by one service over the simulators, named sim-0, sim-1, ... */
export const route = (
  sims: Simulator[],
  extra: Record<string, unknown> = {},
  service: Record<string, unknown> = {},
) => ({
  models: [{ model: MODEL, services: [{ name: 'svc', endpoints: endpointsOf(sims), ...service }] }],
  ...extra,
});
/** A route file: MODEL round-robin over endpoints named by the test (service `s`). */
export const roundRobinOver = (endpoints: { url: string; name: string }[]) => ({
  routeStrategy: 'RoundRobin',
  models: [{ model: MODEL, services: [{ name: 's', endpoints }] }],
});
/** A route file: MODEL over the simulators, round-robin. */
export const twoEndpoints = (sims: Simulator[], extra: Record<string, unknown> = {}) =>
  route(sims, { routeStrategy: 'RoundRobin', schedulingPolicy: 'round-robin', ...extra });
/** A chat request for MODEL with one user message. */
export const question = (text: string, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  max_tokens: 5,
  messages: [{ role: 'user', content: text }],
  ...extra,
});
/** A counter of the simulator's /metrics, summed over its series. */
export async function simMetric(sim: Simulator, name: string): Promise<number> {
  return metricSum(parseExposition(await (await fetch(`${sim.url}/metrics`)).text()), name) ?? 0;
}

export interface RunningGateway {
  url: string;
  gateway: Gateway;
  file: string;
  logs: string[];
  /** Rewrites the route file (the gateway reloads it). */
  rewrite: (config: object) => void;
  stop: () => Promise<void>;
}

/** A gateway in this process, routing from a static file written from `config`. */
export async function startGateway(
  config: object,
  options: Partial<GatewayOptions> = {},
): Promise<RunningGateway> {
  const file = join(mkdtempSync(join(tmpdir(), 'infctl-gw-')), 'routes.yaml');
  writeFileSync(file, stringify(config));
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const source = new StaticRouteSource(file, log);
  const gateway = new Gateway({
    port: 0,
    host: '127.0.0.1',
    scrape: { intervalMs: 200, timeoutMs: 500, unhealthyAfter: 2 },
    localEmbedder: localEmbedderFactory(undefined, log),
    log,
    ...options,
  });
  await source.start((snapshot) => {
    if (source.weights) gateway.options.weights = source.weights;
    gateway.applyRoutes(snapshot);
  });
  const port = await gateway.listen();
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    file,
    logs,
    rewrite: (next) => writeFileSync(file, stringify(next)),
    stop: async () => {
      await source.stop();
      await gateway.close(1000);
    },
  };
}

export async function chat(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await postChat(url, body, headers);
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

/** POSTs a chat request and returns the response unread (a stream, an error body). */
export const postChat = (url: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

/** Words that tokenize to about one token each in the simulator's dummy tokenizer. */
export function words(seed: number, count: number): string {
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(`w${x % 5000}`);
  }
  return out.join(' ');
}

/** Polls an async probe until it returns a value (not undefined), or fails naming what was awaited. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms`);
}

/** A counter or gauge from the gateway's own /metrics, summed over the series whose labels match. */
export async function gatewayMetric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}
