/**
 * Prompt prefixes as chains of block hashes. The gateway does not tokenize: a block is BLOCK_CHARS characters
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
export const DEFAULT_PREFIX_KEY_BLOCKS = 128;

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
  let text = '';
  for (const message of messages) {
    text += `<|${typeof message.role === 'string' ? message.role : 'user'}|>\n${contentText(message.content)}\n`;
  }
  return text;
}

/** The text of a /v1/completions prompt (a string, or the first of an array of strings). */
export function completionPromptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt) && typeof prompt[0] === 'string') return prompt[0];
  return '';
}
