import { parentPort, workerData } from 'node:worker_threads';
import { DEFAULT_EMBED_PIECES, MiniLm } from './minilm.ts';

/** Runs MiniLM off the gateway's event loop: {id, texts} in, {id, vectors} or {id, error} out. */
const port = parentPort;
if (!port) throw new Error('minilm-worker.ts runs as a worker thread only');
const model = new MiniLm((workerData as { dir: string }).dir);
port.on('message', (message: { id: number; texts: string[] }) => {
  try {
    const vectors = message.texts.map((text) => model.embed(text, DEFAULT_EMBED_PIECES));
    port.postMessage(
      { id: message.id, vectors },
      vectors.map((v) => v.buffer as ArrayBuffer),
    );
  } catch (err) {
    port.postMessage({ id: message.id, error: (err as Error).message });
  }
});
