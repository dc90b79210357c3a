import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { dot, type Embedder } from '../embedding/embedder.ts';
import type { SemanticCacheConfig } from '../routes/route-table.ts';

/** An answer as the semantic cache keeps it: enough to replay it as JSON or as SSE. */
export interface CachedAnswer {
  kind: 'chat' | 'completion';
  content: string;
  finishReason: string;
}

/**
 * What a lookup is scoped to: the model, the route's service, the tenant (absent when shared), the parameters
 * that change the answer, the API, and the exact conversation before the last message.
 */
export interface CacheScope {
  model: string;
  /** The service the route sent the request to. */
  route: string;
  /** Who may see the answer; undefined for a shared cache. */
  tenant?: string;
  /** The request's other parameters (sampling and the like), canonical JSON. */
  params: string;
  kind: 'chat' | 'completion';
  /** Everything but the question (earlier messages); it must match exactly. */
  context: string;
  /** The text compared by meaning: the last user message, or the completion prompt. */
  question: string;
}

export type LookupResult =
  | { result: 'hit'; answer: CachedAnswer; similarity: number }
  | { result: 'miss'; vector: Float32Array }
  | { result: 'error'; error: Error };

/** Entries compared per scope; the newest are kept. */
const MAX_ENTRIES_PER_SCOPE = 1000;
/** Redis calls that take longer count as an outage: the request goes on as a miss. */
const REDIS_TIMEOUT_MS = 250;
const LOCAL_VECTORS = 20_000;

/**
 * The semantic cache: Redis holds, per scope, a sorted set of entry ids (scored by expiry), each entry's
 * vector and its answer, all with the route's TTL. A lookup embeds the question, compares it with the scope's
 * vectors (cached locally; vectors never change) and returns the best answer at or above the cosine
 * threshold. Any Redis or embedder failure is reported as `error` and the caller treats it as a miss.
 */
export class SemanticCache {
  private readonly clients = new Map<string, Redis>();
  private readonly vectors = new Map<string, Float32Array>();
  private readonly outages = new Set<string>();
  private readonly everReady = new Set<string>();

  constructor(
    private readonly embedderFor: (config: SemanticCacheConfig) => Embedder,
    private readonly log: (message: string) => void = () => {},
  ) {}

  async lookup(config: SemanticCacheConfig, scope: CacheScope): Promise<LookupResult> {
    let vector: Float32Array;
    try {
      [vector] = (await this.embedderFor(config).embed([scope.question])) as [Float32Array];
    } catch (err) {
      return { result: 'error', error: err as Error };
    }
    try {
      const redis = await this.connected(config.redisUrl);
      const base = scopeKey(scope);
      const now = Date.now();
      const replies = await withTimeout(
        redis
          .multi()
          .zremrangebyscore(`${base}:idx`, '-inf', now)
          .zrange(`${base}:idx`, -MAX_ENTRIES_PER_SCOPE, -1)
          .exec(),
      );
      const ids = (replies?.[1]?.[1] as string[] | undefined) ?? [];
      const missing = ids.filter((id) => !this.vectors.has(`${base}:${id}`));
      if (missing.length > 0) {
        const values = await withTimeout(redis.mgetBuffer(...missing.map((id) => `${base}:v:${id}`)));
        missing.forEach((id, i) => {
          const value = values[i];
          if (value) this.remember(`${base}:${id}`, toVector(value));
        });
      }
      let best = -1;
      let bestId: string | undefined;
      for (const id of ids) {
        const candidate = this.vectors.get(`${base}:${id}`);
        if (!candidate) continue;
        const similarity = dot(vector, candidate);
        if (similarity > best) {
          best = similarity;
          bestId = id;
        }
      }
      this.recovered(config.redisUrl);
      if (bestId === undefined || best < config.threshold) return { result: 'miss', vector };
      const answer = await withTimeout(redis.get(`${base}:a:${bestId}`));
      if (answer === null) return { result: 'miss', vector };
      return { result: 'hit', answer: JSON.parse(answer) as CachedAnswer, similarity: best };
    } catch (err) {
      this.outage(config.redisUrl, err as Error);
      return { result: 'error', error: err as Error };
    }
  }

  async store(
    config: SemanticCacheConfig,
    scope: CacheScope,
    vector: Float32Array,
    answer: CachedAnswer,
  ): Promise<void> {
    try {
      const redis = await this.connected(config.redisUrl);
      const base = scopeKey(scope);
      const id = randomUUID();
      const ttlMs = config.ttlSeconds * 1000;
      await withTimeout(
        redis
          .multi()
          .set(
            `${base}:v:${id}`,
            Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength),
            'PX',
            ttlMs,
          )
          .set(`${base}:a:${id}`, JSON.stringify(answer), 'PX', ttlMs)
          .zadd(`${base}:idx`, Date.now() + ttlMs, id)
          .pexpire(`${base}:idx`, ttlMs)
          .zremrangebyrank(`${base}:idx`, 0, -MAX_ENTRIES_PER_SCOPE - 1)
          .exec(),
      );
      this.remember(`${base}:${id}`, vector);
    } catch (err) {
      this.outage(config.redisUrl, err as Error);
    }
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
  }

  /** Opens the connection ahead of the first request (route installation calls this). */
  prepare(config: SemanticCacheConfig): void {
    this.client(config.redisUrl);
  }

  /** The client once connected; a connection still being made gets REDIS_TIMEOUT_MS to finish. */
  private async connected(url: string): Promise<Redis> {
    const client = this.client(url);
    if (client.status === 'ready') return client;
    // After the first connection, a lost Redis fails at once: requests must not wait out each reconnect.
    if (this.everReady.has(url)) throw new Error(`Redis is ${client.status}`);
    await withTimeout(new Promise<void>((resolve) => client.once('ready', () => resolve())));
    return client;
  }

  private client(url: string): Redis {
    let client = this.clients.get(url);
    if (!client) {
      client = new Redis(url, {
        // Fail fast while Redis is away: a queued command would hold the request.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      });
      client.on('error', (err: Error) => this.outage(url, err));
      client.on('ready', () => this.everReady.add(url));
      this.clients.set(url, client);
    }
    return client;
  }

  private remember(key: string, vector: Float32Array): void {
    this.vectors.set(key, vector);
    if (this.vectors.size > LOCAL_VECTORS) {
      const oldest = this.vectors.keys().next();
      if (!oldest.done) this.vectors.delete(oldest.value);
    }
  }

  private outage(url: string, err: Error): void {
    if (this.outages.has(url)) return;
    this.outages.add(url);
    this.log(
      `semantic cache: Redis ${redactUrl(url)} unavailable (${err.message}); requests go to the model`,
    );
  }

  private recovered(url: string): void {
    if (this.outages.delete(url)) this.log(`semantic cache: Redis ${redactUrl(url)} is back`);
  }
}

function scopeKey(scope: CacheScope): string {
  // JSON keeps the parts apart: no choice of tenant or parameters can spell another scope's key.
  const exact = JSON.stringify([scope.route, scope.tenant ?? null, scope.params, scope.context]);
  const digest = createHash('sha256').update(exact).digest('hex').slice(0, 40);
  return `infctl:semcache:${scope.kind}:${encodeURIComponent(scope.model)}:${digest}`;
}

function toVector(buffer: Buffer): Float32Array {
  const copy = new Uint8Array(buffer.length);
  copy.set(buffer);
  return new Float32Array(copy.buffer, 0, Math.floor(buffer.length / 4));
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS} ms`)),
      REDIS_TIMEOUT_MS,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}
