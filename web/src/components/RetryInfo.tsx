import type { SiteStatus } from "../api/types";
import { formatDuration, secondsUntil } from "../format/time";

/** "retry 3 in 12s" for a site in error; nothing otherwise. */
export function RetryInfo({ site, nowMs }: { site: SiteStatus; nowMs: number }) {
  if (site.status !== "error") return null;
  const seconds = secondsUntil(site.next_retry_at, nowMs);
  if (seconds === null) return null;
  return (
    <span className="muted" data-testid="retry-countdown">
      {seconds > 0 ? `retry in ${formatDuration(seconds)}` : "retrying…"}
      {site.retry_count > 0 ? ` (attempt ${site.retry_count + 1})` : ""}
    </span>
  );
}
