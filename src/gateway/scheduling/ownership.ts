/** Ownership entries kept per model; the oldest go first beyond this. */
const MAX_OWNED_PER_MODEL = 4096;
/** How long a shifted prefix stays with its new owner unless the shift says otherwise: one hour. */
export const DEFAULT_OWNERSHIP_TTL_MS = 60 * 60 * 1000;

export interface OwnershipEntry {
  key: number;
  /** The role of the requests it steers (both, prefill or decode): one prefix can have an owner per role. */
  role: string;
  /** Endpoint URL that owns the prefix. */
  endpoint: string;
  expiresAt: number;
  reason?: string;
}

const slot = (model: string, role: string) => `${model}\u0000${role}`;

/**
 * Prefix ownership shifted by the cache control loop (the admin API's POST /admin/ownership): a prefix key
 * (see affinityKey) pinned to an endpoint until it expires. The ownership scorer reads it on every request;
 * entries live in memory only, bounded per model, and a gateway restart forgets them.
 */
export class OwnershipTable {
  private readonly models = new Map<string, Map<number, OwnershipEntry>>();

  constructor(readonly maxPerModel = MAX_OWNED_PER_MODEL) {}

  owner(model: string, role: string, key: number, now: number): string | undefined {
    const entries = this.models.get(slot(model, role));
    const entry = entries?.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      entries!.delete(key);
      return undefined;
    }
    return entry.endpoint;
  }

  assign(model: string, entry: OwnershipEntry): void {
    let entries = this.models.get(slot(model, entry.role));
    if (!entries) {
      entries = new Map();
      this.models.set(slot(model, entry.role), entries);
    }
    entries.delete(entry.key);
    entries.set(entry.key, entry);
    while (entries.size > this.maxPerModel) entries.delete(entries.keys().next().value!);
  }

  /** A model's unexpired entries, every role. */
  list(model: string, now: number): OwnershipEntry[] {
    const out: OwnershipEntry[] = [];
    for (const [name, entries] of this.models) {
      if (!name.startsWith(`${model}\u0000`)) continue;
      for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
      out.push(...entries.values());
    }
    return out;
  }

  /** Drops a model's entries (all, or those owned by one endpoint); returns how many went. */
  clear(model: string | undefined, endpoint?: string): number {
    let removed = 0;
    for (const [name, entries] of this.models) {
      if (model !== undefined && !name.startsWith(`${model}\u0000`)) continue;
      for (const [key, entry] of entries)
        if (endpoint === undefined || entry.endpoint === endpoint) {
          entries.delete(key);
          removed++;
        }
    }
    return removed;
  }

  /** Forgets every entry that points at an endpoint that left the route table. */
  forgetEndpoint(endpoint: string): void {
    this.clear(undefined, endpoint);
  }
}
