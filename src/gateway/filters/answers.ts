import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { CachedAnswer } from './semantic-cache.ts';

interface Choice {
  message?: { content?: unknown };
  delta?: { content?: unknown };
  text?: unknown;
  finish_reason?: unknown;
}

function firstChoice(json: unknown): Choice | undefined {
  const choices = (json as { choices?: unknown } | null)?.choices;
  return Array.isArray(choices) ? (choices[0] as Choice | undefined) : undefined;
}

/** The answer in a whole (non-streaming) response body, or undefined when it has none worth caching. */
export function answerFromJson(kind: CachedAnswer['kind'], body: Buffer): CachedAnswer | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const choice = firstChoice(json);
  const content = kind === 'chat' ? choice?.message?.content : choice?.text;
  if (typeof content !== 'string' || typeof choice?.finish_reason !== 'string') return undefined;
  return { kind, content, finishReason: choice.finish_reason };
}

/** Accumulates the answer of a server-sent-event stream as its chunks pass through. */
export class StreamedAnswer {
  private pending = '';
  private content = '';
  private finishReason?: string;
  private broken = false;

  constructor(private readonly kind: CachedAnswer['kind']) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, newline).trim();
      this.pending = this.pending.slice(newline + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]' || data === '') continue;
      try {
        const choice = firstChoice(JSON.parse(data));
        const piece = this.kind === 'chat' ? choice?.delta?.content : choice?.text;
        if (typeof piece === 'string') this.content += piece;
        if (typeof choice?.finish_reason === 'string') this.finishReason = choice.finish_reason;
      } catch {
        this.broken = true;
      }
    }
  }

  answer(): CachedAnswer | undefined {
    if (this.broken || this.finishReason === undefined) return undefined;
    return { kind: this.kind, content: this.content, finishReason: this.finishReason };
  }
}

/** Replays a cached answer in the shape the client asked for: one JSON body, or SSE chunks then [DONE]. */
export function replayAnswer(
  res: ServerResponse,
  answer: CachedAnswer,
  model: string,
  stream: boolean,
  headers: Record<string, string>,
): void {
  const created = Math.floor(Date.now() / 1000);
  const id = `${answer.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-cache-${randomUUID()}`;
  if (!stream) {
    const choice =
      answer.kind === 'chat'
        ? {
            index: 0,
            message: { role: 'assistant', content: answer.content },
            finish_reason: answer.finishReason,
          }
        : { index: 0, text: answer.content, logprobs: null, finish_reason: answer.finishReason };
    const body = JSON.stringify({
      id,
      object: answer.kind === 'chat' ? 'chat.completion' : 'text_completion',
      created,
      model,
      choices: [choice],
    });
    res.writeHead(200, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const object = answer.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const chunk = (choice: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id, object, created, model, choices: [{ index: 0, ...choice }] })}\n\n`;
  const pieces = answer.content.match(/\S+\s*|\s+/g) ?? [];
  let out =
    answer.kind === 'chat' ? chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }) : '';
  for (const piece of pieces)
    out += chunk(
      answer.kind === 'chat'
        ? { delta: { content: piece }, finish_reason: null }
        : { text: piece, finish_reason: null },
    );
  out += chunk(
    answer.kind === 'chat'
      ? { delta: {}, finish_reason: answer.finishReason }
      : { text: '', finish_reason: answer.finishReason },
  );
  out += 'data: [DONE]\n\n';
  res.end(out);
}
