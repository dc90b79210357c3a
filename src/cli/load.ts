/**
 * `infctl load`: a small generated load through the gateway, for demos and manual checks. Each request asks a
 * question about one of `--prompts` long documents (the system prompt), so replicas' prefix caches matter;
 * `--hot-spot` first finds documents the gateway sends to one replica, the skew that makes a replica hot.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../api/index.ts';
import { integer } from './flags.ts';

export const LOAD_USAGE = `  infctl load --url <gateway> --model <model> [--prompts 32] [--words 900] [--concurrency 2]
      [--duration 60s] [--hot-spot] [--stream] [--report-every 5s]
      Chat requests about --prompts documents of --words words each, --concurrency at a time, for --duration.
      --hot-spot picks documents the gateway routes to one replica (the skew that makes a replica hot).
      --stream asks for streamed answers (server-sent events), as a chat client does.
      Prints requests, errors, latency and where requests went every --report-every.
`;

/** Milliseconds of a duration flag (30s, 2m, 500ms), with the flag named when it is not one. */
function durationFlag(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new Error(`${flag} takes a duration such as 30s or 2m, not "${text}"`);
  }
}

/** A document of `words` lowercase pseudo-words, different for every seed. */
function documentText(seed: number, words: number): string {
  return Array.from({ length: words }, (_, i) => `d${seed}w${(i * 7919 + seed) % 5000}`).join(' ');
}

interface Answer {
  ok: boolean;
  ms: number;
  endpoint: string;
  status: number;
  error?: string;
}

async function ask(
  url: string,
  model: string,
  seed: number,
  words: number,
  n: number,
  stream = false,
): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-semantic-cache-bypass': '1' },
      body: JSON.stringify({
        model,
        max_tokens: 8,
        ...(stream ? { stream: true } : {}),
        messages: [
          { role: 'system', content: documentText(seed, words) },
          { role: 'user', content: `question ${n} about document ${seed}` },
        ],
      }),
    });
    const text = await res.text();
    const endpoint =
      res.headers.get('x-prefill-endpoint') ?? res.headers.get('x-inference-endpoint') ?? 'none';
    return {
      ok: res.ok,
      ms: performance.now() - started,
      endpoint,
      status: res.status,
      ...(res.ok ? {} : { error: text.slice(0, 200) }),
    };
  } catch (err) {
    return {
      ok: false,
      ms: performance.now() - started,
      endpoint: 'none',
      status: 0,
      error: (err as Error).message,
    };
  }
}

export async function runLoad(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      model: { type: 'string' },
      prompts: { type: 'string' },
      words: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string', default: '60s' },
      'hot-spot': { type: 'boolean', default: false },
      stream: { type: 'boolean', default: false },
      'report-every': { type: 'string', default: '5s' },
    },
  });
  if (!values.url || !values.model) throw new Error(`--url and --model are required\n${LOAD_USAGE}`);
  const url = values.url.replace(/\/+$/, '');
  const model = values.model;
  const prompts = integer(values.prompts, '--prompts', 32);
  const words = integer(values.words, '--words', 900);
  const concurrency = integer(values.concurrency, '--concurrency', 2);
  const durationMs = durationFlag(values.duration, '--duration');
  const reportMs = durationFlag(values['report-every'], '--report-every');

  let seeds = Array.from({ length: prompts }, (_, i) => i);
  if (values['hot-spot']) {
    // The first document's replica is the hot spot; keep the documents the gateway sends there.
    const first = await ask(url, model, 0, words, 0);
    if (!first.ok) throw new Error(`the gateway answered ${first.status}: ${first.error ?? ''}`);
    seeds = [0];
    for (let seed = 1; seeds.length < prompts && seed < prompts * 20; seed++)
      if ((await ask(url, model, seed, words, 0)).endpoint === first.endpoint) seeds.push(seed);
    console.log(`hot spot: ${seeds.length} documents the gateway routes to ${first.endpoint}`);
  }

  const deadline = Date.now() + durationMs;
  let window: Answer[] = [];
  let total = 0;
  let failed = 0;
  const report = () => {
    if (window.length === 0) return;
    const ms = window.map((a) => a.ms).sort((a, b) => a - b);
    const where = new Map<string, number>();
    for (const a of window) where.set(a.endpoint, (where.get(a.endpoint) ?? 0) + 1);
    const errors = window.filter((a) => !a.ok);
    console.log(
      `${(window.length / (reportMs / 1000)).toFixed(1)} req/s, p50 ${(ms[Math.floor(ms.length / 2)] ?? 0).toFixed(0)} ms, ` +
        `${errors.length} errors; ${[...where].map(([e, n]) => `${e} ${n}`).join(', ')}` +
        (errors[0] ? `; last error ${errors[0].status} ${errors[0].error ?? ''}` : ''),
    );
    window = [];
  };
  const timer = setInterval(report, reportMs);
  let stopped = false;
  const stop = () => (stopped = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      for (let n = lane; !stopped && Date.now() < deadline; n += concurrency) {
        const answer = await ask(url, model, seeds[n % seeds.length] ?? 0, words, n, values.stream);
        window.push(answer);
        total++;
        if (!answer.ok) failed++;
      }
    }),
  );
  clearInterval(timer);
  report();
  console.log(`done: ${total} requests, ${failed} failed`);
  return failed > 0 && failed === total ? 1 : 0;
}
