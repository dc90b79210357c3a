/** Ownership entries kept per model; the oldest go first beyond this. */
export const MAX_OWNED_PER_MODEL = 4096;
/** How long a shifted prefix stays with its new owner unless the shift says otherwise: one hour. */
export const DEFAULT_OWNERSHIP_TTL_MS = 60 * 60 * 1000;

export interface OwnershipEntry {
  key: number;
  /** Endpoint URL that owns the prefix. */
  endpoint: string;
  expiresAt: number;
  reason?: string;
}

/**
 * Prefix ownership shifted by the cache control loop (the admin API's POST /admin/ownership): a prefix key
 * (see affinityKey) pinned to an endpoint until it expires. The ownership scorer reads it on every request;
 * entries live in memory only, bounded per model, and a gateway restart forgets them.
 */
export class OwnershipTable {
  private readonly models = new Map<string, Map<number, OwnershipEntry>>();

  constructor(readonly maxPerModel = MAX_OWNED_PER_MODEL) {}

  owner(model: string, key: number, now: number): string | undefined {
    const entries = this.models.get(model);
    const entry = entries?.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      entries!.delete(key);
      return undefined;
    }
    return entry.endpoint;
  }

  assign(model: string, entry: OwnershipEntry): void {
    let entries = this.models.get(model);
    if (!entries) {
      entries = new Map();
      this.models.set(model, entries);
    }
    entries.delete(entry.key);
    entries.set(entry.key, entry);
    while (entries.size > this.maxPerModel) entries.delete(entries.keys().next().value!);
  }

  list(model: string, now: number): OwnershipEntry[] {
    const entries = this.models.get(model);
    if (!entries) return [];
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
    return [...entries.values()];
  }

  /** Drops a model's entries (all, or those owned by one endpoint); returns how many went. */
  clear(model: string, endpoint?: string): number {
    const entries = this.models.get(model);
    if (!entries) return 0;
    let removed = 0;
    for (const [key, entry] of entries)
      if (endpoint === undefined || entry.endpoint === endpoint) {
        entries.delete(key);
        removed++;
      }
    return removed;
  }

  /** Forgets every entry that points at an endpoint that left the route table. */
  forgetEndpoint(endpoint: string): void {
    for (const model of this.models.keys()) this.clear(model, endpoint);
  }
}
