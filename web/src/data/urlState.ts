/**
 * Filters and sort of a table kept in the page's URL (`?status=error&q=mil&sort=-heartbeat`),
 * so a filtered view can be bookmarked, shared and survives a reload. Pure: parse and write.
 */

import type { SortState } from "./sorting";

/** "-heartbeat" → heartbeat descending; an unknown key falls back to `fallback`. */
export function parseSort<K extends string>(text: string | null, keys: readonly K[], fallback: SortState<K>): SortState<K> {
  if (!text) return fallback;
  const descending = text.startsWith("-");
  const key = (descending ? text.slice(1) : text) as K;
  return keys.includes(key) ? { key, direction: descending ? "desc" : "asc" } : fallback;
}

export function writeSort<K extends string>(sort: SortState<K>): string {
  return `${sort.direction === "desc" ? "-" : ""}${sort.key}`;
}

/** A copy of `params` with each key set, or removed when its value is empty or the default. */
export function withParams(params: URLSearchParams, values: Record<string, string | null>): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === "") next.delete(key);
    else next.set(key, value);
  }
  return next;
}
