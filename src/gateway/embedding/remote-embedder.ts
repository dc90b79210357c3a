import { z } from 'zod';
import { normalize, type Embedder } from './embedder.ts';

const EmbeddingResponse = z.object({
  data: z.array(z.object({ embedding: z.array(z.number()), index: z.number().optional() })),
});

/** Embeds through an OpenAI-compatible /v1/embeddings endpoint. */
export class RemoteEmbedder implements Embedder {
  readonly name: string;
  private readonly url: string;

  constructor(
    endpoint: string,
    private readonly model: string | undefined,
    private readonly timeoutMs = 5_000,
  ) {
    const base = endpoint.replace(/\/+$/, '');
    this.url = base.endsWith('/embeddings') ? base : `${base}/v1/embeddings`;
    this.name = `remote ${this.url}`;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: texts, ...(this.model ? { model: this.model } : {}) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`${this.url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const parsed = EmbeddingResponse.parse(await res.json());
    const ordered = [...parsed.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    return ordered.map((d) => normalize(Float32Array.from(d.embedding)));
  }
}
