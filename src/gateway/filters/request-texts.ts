/** The OpenAI APIs whose requests carry text for the model. */
export type TextRequestKind = 'chat' | 'completion' | 'embedding';

/**
 * The values of every key of `object` spelled `name` in any letter case. Engines written in Go read JSON keys
 * case-insensitively, so `Content` reaches the model as surely as `content` does.
 */
function fields(object: unknown, name: string): unknown[] {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return [];
  const values: unknown[] = [];
  for (const [key, value] of Object.entries(object)) if (key.toLowerCase() === name) values.push(value);
  return values;
}

/** A string, or the strings of an array (token-id arrays carry no text the guard can read). */
function strings(value: unknown, into: string[]): void {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') into.push(item);
}

function messageTexts(message: unknown, into: string[]): void {
  for (const content of fields(message, 'content')) {
    if (typeof content === 'string') into.push(content);
    else if (Array.isArray(content))
      for (const part of content) for (const text of fields(part, 'text')) strings(text, into);
  }
  for (const name of fields(message, 'name')) strings(name, into);
  const calls = [...fields(message, 'function_call')];
  for (const toolCalls of fields(message, 'tool_calls'))
    if (Array.isArray(toolCalls)) for (const call of toolCalls) calls.push(...fields(call, 'function'));
  for (const call of calls) for (const args of fields(call, 'arguments')) strings(args, into);
}

/**
 * Every text a request carries to the model, for the prompt guard: chat messages' `content` (strings and the
 * `text` of content parts), `name` and tool-call `function.arguments`; completions' `prompt` (a string or an
 * array of strings) and `suffix`; embeddings' `input` (a string or an array of strings).
 */
export function requestTexts(kind: TextRequestKind, body: Record<string, unknown>): string[] {
  const texts: string[] = [];
  if (kind === 'chat') {
    for (const messages of fields(body, 'messages'))
      if (Array.isArray(messages)) for (const message of messages) messageTexts(message, texts);
  } else if (kind === 'completion') {
    for (const prompt of fields(body, 'prompt')) strings(prompt, texts);
    for (const suffix of fields(body, 'suffix')) strings(suffix, texts);
  } else {
    for (const input of fields(body, 'input')) strings(input, texts);
  }
  return texts;
}
