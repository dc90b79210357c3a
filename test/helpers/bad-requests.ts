/** The bad requests of issue 11 and the plain HTTP calls the gateway-safety tests send them with. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { get, request, type Agent } from 'node:http';
import { MODEL, question } from './gateway.ts';

interface Answer {
  status: number;
  error?: { message: string; type: string; param: string | null; code: unknown };
}

/** Requests enough to open as many connections as the pool allows, at both ends. */
export async function warmUp(url: string, concurrency: number, agent: Agent): Promise<void> {
  const body = JSON.stringify(question('warm', { stream: true, max_tokens: 10, ignore_eos: true }));
  await Promise.all(Array.from({ length: concurrency * 2 }, () => post(url, body, agent)));
}

/** POSTs over `agent` (a fixed pool, so the test controls its own connections); `abort` drops the response after its first chunk. */
export function post(url: string, body: string, agent: Agent, abort = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', (err) => (abort ? resolve({ status: 0 }) : reject(err)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (abort) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0 });
        } else chunks.push(chunk);
      });
      res.on('error', () => {});
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let error: Answer['error'];
        try {
          error = (JSON.parse(text) as { error?: Answer['error'] }).error;
        } catch {
          error = undefined;
        }
        resolve({ status: res.statusCode ?? 0, error });
      });
    });
    req.end(body);
  });
}

/** Streams slowly enough to be aborted mid-way; many sequences at once, so nothing queues. */
export const SIM_ARGS = ['--inter-token-latency', '10ms', '--max-num-seqs', '64'];
/** GETs a path over `agent`, for the body text. */
export function getText(url: string, path: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { agent }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
/** The bad requests of issue 11, in turn: each reached the engine or broke the gateway once. */
export const BAD: { body: string; abort?: boolean; status: number; code?: string }[] = [
  // 10 KB, 5,000 levels deep in a content part: a 500 and a leaked upstream socket before.
  {
    body: `{"model":"${MODEL}","messages":[{"role":"user","content":[{"type":"text","text":"x","deep":${DEEP}}]}]}`,
    status: 400,
    code: 'json_too_deep',
  },
  // Valid for the gateway, too long for the engine's 1,024-token context: the engine's 400, relayed.
  { body: JSON.stringify(question('long', { max_tokens: 5000 })), status: 400, code: 'invalid_request' },
  // A field only the engine checks: its Go decoding error, relayed cleaned.
  { body: JSON.stringify(question('eos', { ignore_eos: 'yes' })), status: 400, code: 'invalid_request' },
  // A client that leaves after the first streamed chunk.
  {
    body: JSON.stringify(question('stream', { stream: true, max_tokens: 30, ignore_eos: true })),
    abort: true,
    status: 200,
  },
];

export async function sendBad(url: string, total: number, concurrency: number, agent: Agent): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const kind = BAD[next++ % BAD.length]!;
      const answer = await post(url, kind.body, agent, kind.abort);
      if (kind.abort) continue;
      assert.equal(answer.status, kind.status, JSON.stringify(answer));
      assert.equal(answer.error?.code, kind.code, JSON.stringify(answer));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export const openFds = (pid: number | 'self' = 'self') => readdirSync(`/proc/${pid}/fd`).length;
