import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { componentFolder } from '../../tools/components.ts';
import type { Embedder } from './embedder.ts';

/** Where `infctl dev tools` puts the weights (INFCTL_EMBEDDER_DIR, else the tools cache). */
const defaultDir = () => componentFolder('all-minilm-l6-v2');

/**
 * The built-in embedder: sentence-transformers all-MiniLM-L6-v2 (a real sentence-embedding model, 384
 * dimensions) computed in TypeScript on a worker thread. One text at a time; texts longer than 256
 * word-pieces are truncated as the model itself does.
 */
export class MiniLmEmbedder implements Embedder {
  readonly name: string;
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }
  >();
  private next = 0;
  private failure?: Error;

  constructor(readonly dir: string) {
    this.name = `all-MiniLM-L6-v2 (${dir})`;
    // Under tsx (source checkout) the worker needs the TypeScript loader registered first.
    const entry = import.meta.url.endsWith('.ts') ? './minilm-worker-loader.mjs' : './minilm-worker.js';
    this.worker = new Worker(new URL(entry, import.meta.url), { workerData: { dir } });
    this.worker.unref();
    this.worker.on('message', (m: { id?: number; vectors?: Float32Array[]; error?: string }) => {
      if (m.id === undefined) return;
      const waiter = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) waiter?.reject(new Error(`local embedder: ${m.error}`));
      else waiter?.resolve(m.vectors ?? []);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(new Error(`local embedder failed: ${err.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`local embedder exited with code ${code}`)));
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, texts });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * A factory for the local embedder when its weights are present (`dir`, INFCTL_EMBEDDER_DIR, or the tools
 * cache), else undefined — then only semantic caches with an embeddingEndpoint work, and the log says so.
 */
export function localEmbedderFactory(
  dir: string | undefined,
  log: (message: string) => void,
): (() => Embedder) | undefined {
  const folder = dir ?? defaultDir();
  if (!existsSync(join(folder, 'model.safetensors')) || !existsSync(join(folder, 'vocab.txt'))) {
    log(
      `no local embedder: ${folder} lacks model.safetensors and vocab.txt (run ./bin/infctl dev tools); semantic caches need an embeddingEndpoint`,
    );
    return undefined;
  }
  return () => new MiniLmEmbedder(folder);
}
