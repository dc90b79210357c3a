import type { WarmPrompt } from '../../api/index.ts';
import type { InferenceRequest } from '../request-body.ts';

/**
 * Prompt prefixes as chains of block hashes, and the one place a request's prefix keys are computed. The gateway does not tokenize: a block is BLOCK_CHARS characters
 * of the request's text as a chat template would lay it out (about 16 tokens of English). Each block's hash
 * covers every block before it, so equal hashes at position i mean equal prefixes up to i, like vLLM's
 * prefix-cache block hashes.
 */
export const BLOCK_CHARS = 64;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over a string's UTF-16 code units, continuing from `seed`. */
export function hashString(text: string, seed = FNV_OFFSET, start = 0, end = text.length): number {
  let h = seed;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** The chained hashes of the full blocks of `text`, at most `maxBlocks` of them. */
export function prefixBlockHashes(text: string, maxBlocks = Number.POSITIVE_INFINITY): number[] {
  const count = Math.min(Math.floor(text.length / BLOCK_CHARS), maxBlocks);
  const hashes = new Array<number>(count);
  let h = FNV_OFFSET;
  for (let i = 0; i < count; i++) {
    h = hashString(text, h, i * BLOCK_CHARS, (i + 1) * BLOCK_CHARS);
    hashes[i] = h;
  }
  return hashes;
}

/** How many leading blocks form a prefix's affinity key: 128 blocks of 64 characters, about 2,000 tokens. */
const DEFAULT_PREFIX_KEY_BLOCKS = 128;

/**
 * The key a prefix is routed and owned by: the chained hash of the conversation before its newest message (the
 * whole prompt when there is no conversation), cut at `keyBlocks` blocks. Every turn of a conversation, and
 * every question under one system prompt, keys alike. Undefined for an empty prompt.
 */
export function affinityKey(
  blocks: readonly number[],
  contextBlocks: number,
  keyBlocks = DEFAULT_PREFIX_KEY_BLOCKS,
): number | undefined {
  if (blocks.length === 0) return undefined;
  const stable = contextBlocks > 0 ? contextBlocks : blocks.length;
  return blocks[Math.min(stable, blocks.length, keyBlocks) - 1];
}

interface ChatContentPart {
  type?: unknown;
  text?: unknown;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((part: ChatContentPart) => (part && typeof part.text === 'string' ? part.text : ''))
      .join('');
  return '';
}

/** The text a chat template would feed the model: role markers and contents, in order. */
export function chatPromptText(messages: readonly { role?: unknown; content?: unknown }[]): string {
  return chatText(messages).text;
}

/** chatPromptText, and the length of its part before the newest message (one pass, one string). */
function chatText(messages: readonly { role?: unknown; content?: unknown }[]): {
  text: string;
  contextLength: number;
} {
  let text = '';
  let contextLength = 0;
  for (const message of messages) {
    contextLength = text.length;
    text += `<|${typeof message.role === 'string' ? message.role : 'user'}|>\n${contentText(message.content)}\n`;
  }
  return { text, contextLength };
}

/** The text of a /v1/completions prompt (a string, or the first of an array of strings). */
export function completionPromptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt) && typeof prompt[0] === 'string') return prompt[0];
  return '';
}

/** Blocks hashed per request: 1,024 blocks of 64 characters (64 KiB of prompt) are plenty for affinity. */
const MAX_PREFIX_BLOCKS = 1024;

/** What routing knows of a request's prompt, computed once per request. */
export interface PromptKeys {
  /** The prompt as a chat template lays it out (empty for embeddings). */
  text: string;
  /** Its chained block hashes; a prompt shorter than a block hashes whole. */
  blocks: number[];
  /** Blocks before the newest message of a chat (see affinityKey). */
  contextBlocks: number;
  /** The affinity key of the prompt's stable prefix (routing, ownership, hot prefixes). */
  prefixKey?: number;
}

export function promptKeys(request: InferenceRequest): PromptKeys {
  const messages = request.kind === 'chat' ? request.body.messages : [];
  const chat = request.kind === 'chat' ? chatText(messages) : undefined;
  const text = chat
    ? chat.text
    : request.kind === 'completion'
      ? completionPromptText(request.body.prompt)
      : '';
  const blocks = prefixBlockHashes(text, MAX_PREFIX_BLOCKS);
  // The conversation before the newest message is a prefix of the whole text: its length is enough.
  const contextBlocks = chat && messages.length > 1 ? Math.floor(chat.contextLength / BLOCK_CHARS) : 0;
  if (blocks.length === 0 && text.length > 0) blocks.push(hashString(text));
  return { text, blocks, contextBlocks, prefixKey: affinityKey(blocks, contextBlocks) };
}

/** The stable part of a prompt, replayed to warm another endpoint's cache: a chat without its newest message. */
export function warmPrompt(request: InferenceRequest, keys: PromptKeys): WarmPrompt | undefined {
  if (request.kind === 'chat') {
    const { messages } = request.body;
    return { kind: 'chat', messages: messages.length > 1 ? messages.slice(0, -1) : messages };
  }
  if (request.kind === 'completion')
    return { kind: 'completion', prompt: keys.text.slice(0, DEFAULT_PREFIX_KEY_BLOCKS * BLOCK_CHARS) };
  return undefined;
}
