import type { WarmPrompt } from '../../api/index.ts';

/** Prefixes remembered per model; the least recently seen go first beyond this. */
const MAX_HOT_PER_MODEL = 256;
/** Largest prompt kept for a warming replay (characters of text); a longer one is tracked without it. */
const MAX_WARM_PROMPT_CHARS = 32 * 1024;
/** Request counts decay with this half-life, so "hot" means hot lately. */
const HOT_HALF_LIFE_MS = 60_000;

export interface HotPrefix {
  key: number;
  /** The role of the requests (both, prefill or decode): a P/D request counts once per role. */
  role: string;
  /** URL of the endpoint that served the prefix last. */
  endpoint: string;
  /** Requests, decayed with HOT_HALF_LIFE_MS to `seenAt`. */
  score: number;
  seenAt: number;
  prompt?: WarmPrompt;
}

/**
 * The hottest prompt prefixes per model, by affinity key, with the endpoint that serves each and the prompt to
 * replay when warming another endpoint. Bounded per model and in memory only; the admin API lists them and the
 * ownership shift moves them.
 */
export class HotPrefixes {
  private readonly models = new Map<string, Map<number, HotPrefix>>();

  constructor(
    readonly maxPerModel = MAX_HOT_PER_MODEL,
    readonly halfLifeMs = HOT_HALF_LIFE_MS,
  ) {}

  /** Counts one request; `prompt` is called only for a prefix not yet holding one. */
  record(
    model: string,
    role: string,
    key: number,
    endpoint: string,
    now: number,
    prompt: () => WarmPrompt | undefined,
  ): void {
    const name = `${model}\u0000${role}`;
    let entries = this.models.get(name);
    if (!entries) {
      entries = new Map();
      this.models.set(name, entries);
    }
    const entry = entries.get(key);
    if (entry) {
      entries.delete(key);
      entry.score = this.decayed(entry, now) + 1;
      entry.seenAt = now;
      entry.endpoint = endpoint;
      entry.prompt ??= bounded(prompt());
      entries.set(key, entry);
      return;
    }
    entries.set(key, { key, role, endpoint, score: 1, seenAt: now, prompt: bounded(prompt()) });
    const oldest = entries.keys().next();
    if (entries.size > this.maxPerModel && !oldest.done) entries.delete(oldest.value);
  }

  /** The model's prefixes (every role), hottest first; only those last served by `endpoint` when given. */
  hottest(model: string, now: number, endpoint?: string, limit = this.maxPerModel): HotPrefix[] {
    const entries: HotPrefix[] = [];
    for (const [name, map] of this.models)
      if (name.startsWith(`${model}\u0000`)) entries.push(...map.values());
    return entries
      .filter((e) => endpoint === undefined || e.endpoint === endpoint)
      .map((e) => ({ ...e, score: this.decayed(e, now) }))
      .sort((a, b) => b.score - a.score || a.key - b.key)
      .slice(0, limit);
  }

  forgetEndpoint(endpoint: string): void {
    for (const entries of this.models.values())
      for (const [key, e] of entries) if (e.endpoint === endpoint) entries.delete(key);
  }

  private decayed(entry: HotPrefix, now: number): number {
    return entry.score * 2 ** (-(now - entry.seenAt) / this.halfLifeMs);
  }
}

function bounded(prompt: WarmPrompt | undefined): WarmPrompt | undefined {
  if (!prompt) return undefined;
  return promptChars(prompt) <= MAX_WARM_PROMPT_CHARS ? prompt : undefined;
}

/**
 * The characters of a prompt's strings, without serializing it (this runs on the request path), counted with
 * an explicit stack (no recursion, whatever the nesting) and only until the bound is passed.
 */
function promptChars(prompt: WarmPrompt): number {
  if (prompt.kind === 'completion') return prompt.prompt.length;
  let chars = 0;
  const pending: unknown[] = prompt.messages.map((m) => (m as { content?: unknown } | null)?.content);
  while (pending.length > 0 && chars <= MAX_WARM_PROMPT_CHARS) {
    const value = pending.pop();
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) pending.push(...value);
    else if (value !== null && typeof value === 'object') pending.push(...Object.values(value));
    else if (value !== undefined) chars += String(value).length;
  }
  return chars;
}
