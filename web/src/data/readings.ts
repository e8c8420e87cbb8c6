/**
 * Reading a sensor's time window. The readings endpoint answers oldest first and stops at
 * `limit`, so a long window of a chatty sensor comes back in pages: each next page starts at
 * the last time seen, until a page is short or `maxPages` is reached (the chart then shows
 * the oldest part and says it is cut).
 */

import type { Reading } from "../api/types";

export type ReadingsPage = (sinceIso: string, limit: number) => Promise<Reading[]>;

export interface ReadingsWindow {
  readings: Reading[];
  truncated: boolean;
  /** Set when each reading is the average of a bucket of this many seconds. */
  bucketS?: number;
  /** With buckets: each bucket's lowest and highest reading, for the band around the line. */
  low?: number[];
  high?: number[];
}

/** Windows longer than this are read as buckets from the database (bucket_s). */
export const BUCKET_ABOVE_S = 6 * 3600;

const BUCKET_SIZES = [60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];

/** A round bucket size that gives about `points` buckets over the window. */
export function bucketFor(windowS: number, points = 500): number {
  const wanted = windowS / points;
  return BUCKET_SIZES.find((size) => size >= wanted) ?? 86400;
}

export async function fetchReadingsWindow(
  fetchPage: ReadingsPage,
  sinceIso: string,
  limit: number,
  maxPages: number,
): Promise<ReadingsWindow> {
  const readings: Reading[] = [];
  let since = sinceIso;
  for (let page = 0; page < maxPages; page += 1) {
    const batch = await fetchPage(since, limit);
    const last = readings.at(-1)?.at;
    // `since` is inclusive: the first rows of a next page repeat the last time we already have.
    const fresh = last === undefined ? batch : batch.filter((reading) => reading.at > last);
    readings.push(...fresh);
    const next = batch.at(-1)?.at;
    if (batch.length < limit || next === undefined || fresh.length === 0) return { readings, truncated: false };
    since = next;
  }
  return { readings, truncated: true };
}

/** uPlot's column format: seconds since the epoch, and values (null for gaps). */
export function toChartColumns(readings: readonly Reading[]): [number[], (number | null)[]] {
  const times: number[] = [];
  const values: (number | null)[] = [];
  for (const reading of readings) {
    const ms = Date.parse(reading.at);
    if (Number.isNaN(ms)) continue;
    times.push(ms / 1000);
    values.push(typeof reading.value === "number" && Number.isFinite(reading.value) ? reading.value : null);
  }
  return [times, values];
}
