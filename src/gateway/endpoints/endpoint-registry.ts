import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { metricSumInText } from '../../metrics/exposition.ts';
import { isLocalError, type Liveness } from '../proxy/upstream.ts';
import type { EndpointSpec } from '../routes/route-table.ts';
import { EndpointState } from './endpoint-state.ts';

export interface ScrapeOptions {
  /** How often each endpoint's /metrics and /health are read. */
  intervalMs: number;
  timeoutMs: number;
  /** Health checks that fail in a row before the endpoint leaves the candidates. */
  unhealthyAfter: number;
}

export const DEFAULT_SCRAPE_OPTIONS: ScrapeOptions = { intervalMs: 1000, timeoutMs: 800, unhealthyAfter: 2 };

/** The gauge names, newest first: vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc. */
const KV_USAGE_METRICS = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];

/**
 * Every endpoint any route references, keyed by URL so a route reload keeps in-flight counts, scraped
 * numbers and ejections. A background loop scrapes metrics and checks health; the hot path only reads.
 */
export class EndpointRegistry {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly healthFailures = new Map<string, number>();
  private readonly probes = new Map<string, Promise<Liveness>>();
  private timer?: NodeJS.Timeout;
  private scraping = false;
  /** A few connections per endpoint: a scrape's /health and /metrics run one after the other, a probe beside. */
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 4 });

  constructor(
    private readonly options: ScrapeOptions = DEFAULT_SCRAPE_OPTIONS,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** The state for a spec, created on first sight. */
  resolve(spec: EndpointSpec): EndpointState {
    let state = this.endpoints.get(spec.url);
    if (!state) {
      state = new EndpointState(spec);
      this.endpoints.set(spec.url, state);
    } else state.update(spec);
    return state;
  }

  /** Forgets endpoints no route references any more; returns their URLs. */
  retain(urls: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const url of this.endpoints.keys()) {
      if (!urls.has(url)) {
        this.endpoints.delete(url);
        this.healthFailures.delete(url);
        removed.push(url);
      }
    }
    return removed;
  }

  all(): EndpointState[] {
    return [...this.endpoints.values()];
  }

  /**
   * Asks the endpoint's /health now (one question at a time per endpoint, shared by every request waiting on
   * it): `dead` when it fails or does not answer within the scrape timeout, `unknown` when the gateway itself
   * could not ask (out of descriptors).
   */
  liveness(endpoint: EndpointState): Promise<Liveness> {
    let probe = this.probes.get(endpoint.url);
    if (!probe) {
      probe = this.get(`${endpoint.url}/health`, false)
        .then((res): Liveness => (res.ok ? 'alive' : 'dead'))
        .catch((err: unknown): Liveness => (isLocalError(err) ? 'unknown' : 'dead'))
        .finally(() => this.probes.delete(endpoint.url));
      this.probes.set(endpoint.url, probe);
    }
    return probe;
  }

  /**
   * A GET on a kept-alive connection of the scrape loop's own (node:http rather than fetch: fetch's Request,
   * Response, web streams and AbortSignal cost more than the scrape itself), within the scrape timeout; the
   * body read only when asked for.
   */
  private get(url: string, readBody: boolean, retried = false): Promise<{ ok: boolean; body: string }> {
    const https = url.startsWith('https:');
    return new Promise<{ ok: boolean; body: string }>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        agent: https ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      req.once('close', () => clearTimeout(timer));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the endpoint closed meanwhile says nothing about it: ask once more, anew.
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE'))
          resolve(this.get(url, readBody, true));
        else reject(err);
      });
      req.on('response', (res: IncomingMessage) => {
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        if (!readBody || !ok) {
          res.resume();
          res.on('end', () => resolve({ ok, body: '' }));
          res.on('error', reject);
          return;
        }
        res.setEncoding('utf8');
        let body = '';
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ ok, body }));
        res.on('error', reject);
      });
      req.end();
    });
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      void this.scrapeAll().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async scrapeAll(): Promise<void> {
    if (this.scraping) return;
    this.scraping = true;
    try {
      await Promise.all(this.all().map((endpoint) => this.scrape(endpoint)));
    } finally {
      this.scraping = false;
    }
  }

  private async scrape(endpoint: EndpointState): Promise<void> {
    const healthy = await this.get(`${endpoint.url}/health`, false)
      .then((res) => res.ok)
      .catch((err: unknown) => (isLocalError(err) ? undefined : false));
    // The gateway could not even ask (out of descriptors): that says nothing about the endpoint.
    if (healthy === undefined) return;
    const failures = healthy ? 0 : (this.healthFailures.get(endpoint.url) ?? 0) + 1;
    this.healthFailures.set(endpoint.url, failures);
    const wasHealthy = endpoint.healthy;
    endpoint.healthy = failures < this.options.unhealthyAfter;
    if (wasHealthy !== endpoint.healthy)
      this.log(
        `endpoint ${endpoint.name} (${endpoint.url}) is ${endpoint.healthy ? 'healthy' : 'unhealthy'}`,
      );
    if (!healthy) return;
    try {
      const res = await this.get(`${endpoint.url}/metrics`, true);
      if (!res.ok) return;
      // Only the gauges routing reads, straight from the text (a vLLM /metrics page is mostly histograms).
      const text = res.body;
      for (const name of KV_USAGE_METRICS) {
        const value = metricSumInText(text, name);
        if (value !== undefined) {
          endpoint.kvUsage = value;
          break;
        }
      }
      endpoint.waiting = metricSumInText(text, 'vllm:num_requests_waiting') ?? endpoint.waiting;
      endpoint.running = metricSumInText(text, 'vllm:num_requests_running') ?? endpoint.running;
      endpoint.lastScrapeMs = Date.now();
    } catch {
      // Metrics are advisory: a failed scrape keeps the last numbers; health decides eligibility.
    }
  }
}
