/**
 * Coalesces invalidations. A broker outage can bring a thousand `site.status` events in a
 * second; invalidating the sites list for each would refetch it a thousand times. The batcher
 * collects keys for `delayMs` after the first one and then invalidates each distinct key once.
 *
 * It never cancels a refetch already in flight (`cancelRefetch: false`): under a steady stream
 * of events, cancelling would mean the list is never fetched to the end.
 */

import { hashKey, type QueryClient } from "@tanstack/react-query";
import type { QueryKey } from "./queryKeys";

export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realScheduler: Scheduler = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export class InvalidationBatcher {
  private readonly pending = new Map<string, QueryKey>();
  private all = false;
  private timer: unknown = null;
  private readonly later = new Set<unknown>();

  constructor(
    private readonly client: QueryClient,
    private readonly delayMs = 250,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  add(keys: readonly QueryKey[]): void {
    for (const key of keys) this.pending.set(hashKey(key), key);
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
    const keys = [...this.pending.values()];
    const all = this.all;
    this.pending.clear();
    this.all = false;
    if (all) {
      void this.client.invalidateQueries(undefined, { cancelRefetch: false });
      return;
    }
    for (const queryKey of keys) void this.client.invalidateQueries({ queryKey }, { cancelRefetch: false });
  }

  dispose(): void {
    this.later.forEach((handle) => this.scheduler.clearTimeout(handle));
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
