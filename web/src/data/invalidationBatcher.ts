/**
 * Coalesces invalidations. A broker outage can bring a thousand `site.status` events in a
 * second; invalidating the sites list for each would refetch it a thousand times. The batcher
 * collects keys for `delayMs` after the first one and then invalidates, in one pass over the
 * cache, every query that one of the keys names or is a prefix of (TanStack's matching).
 *
 * Keys are compared as JSON. That is sound because every key is built by queryKeys.ts, so
 * equal keys serialise alike; it is also cheap enough for the tens of thousands of keys
 * that a fleet-wide outage brings (TanStack's own hashKey is several times slower).
 *
 * It never cancels a refetch already in flight (`cancelRefetch: false`): under a steady stream
 * of events, cancelling would mean the list is never fetched to the end.
 */

import type { QueryClient } from "@tanstack/react-query";
import type { QueryKey } from "./queryKeys";

/** Whether `key` or one of its prefixes is among `keys` (JSON-serialised). */
export function namedBy(key: QueryKey, keys: ReadonlySet<string>): boolean {
  for (let length = 1; length <= key.length; length += 1) {
    if (keys.has(JSON.stringify(key.slice(0, length)))) return true;
  }
  return false;
}

export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realScheduler: Scheduler = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export class InvalidationBatcher {
  private pending = new Set<string>();
  private all = false;
  private timer: unknown = null;
  private readonly later = new Set<unknown>();

  constructor(
    private readonly client: QueryClient,
    private readonly delayMs = 250,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  add(keys: readonly QueryKey[]): void {
    for (const key of keys) this.pending.add(JSON.stringify(key));
    this.schedule();
  }

  /** Adds `keys` after `delayMs`, for answers that lag behind the event. */
  addLater(keys: readonly QueryKey[], delayMs: number): void {
    if (keys.length === 0) return;
    const handle = this.scheduler.setTimeout(() => {
      this.later.delete(handle);
      this.add(keys);
    }, delayMs);
    this.later.add(handle);
  }

  addAll(): void {
    this.all = true;
    this.schedule();
  }

  /** Invalidates what has been collected, now. */
  flush(): void {
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
    const keys = this.pending;
    const all = this.all;
    this.pending = new Set();
    this.all = false;
    if (all) {
      void this.client.invalidateQueries(undefined, { cancelRefetch: false });
    } else if (keys.size > 0) {
      void this.client.invalidateQueries({ predicate: (query) => namedBy(query.queryKey, keys) }, { cancelRefetch: false });
    }
  }

  dispose(): void {
    for (const handle of this.later) this.scheduler.clearTimeout(handle);
    this.later.clear();
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    this.all = false;
  }

  private schedule(): void {
    if (this.timer === null) this.timer = this.scheduler.setTimeout(() => this.flush(), this.delayMs);
  }
}
