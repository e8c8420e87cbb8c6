/** Time formatting. `nowMs` is always passed in, so these stay pure and testable. */

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** "4s", "3m 20s", "2h 5m", "3d 4h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** "12s ago", "never". */
export function formatAgo(iso: string | null | undefined, nowMs: number): string {
  const at = parseTime(iso);
  if (at === null) return "never";
  const seconds = (nowMs - at) / 1000;
  if (seconds < 1) return "just now";
  return `${formatDuration(seconds)} ago`;
}

/** Seconds until `iso`, never negative; null when there is no such time. */
export function secondsUntil(iso: string | null | undefined, nowMs: number): number | null {
  const at = parseTime(iso);
  return at === null ? null : Math.max(0, (at - nowMs) / 1000);
}

/** Local date and time, to the second. */
export function formatDateTime(iso: string | null | undefined): string {
  const at = parseTime(iso);
  if (at === null) return "—";
  return new Date(at).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${value.toFixed(value >= 99.995 ? 0 : 2)}%`;
}

/** Month, day and time to the second, for table cells: "Nov 27, 02:03:37". */
export function formatShortDateTime(iso: string | null | undefined): string {
  const at = parseTime(iso);
  if (at === null) return "—";
  return new Date(at).toLocaleString(undefined, {
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}
