import { useTranslation } from "react-i18next";
import type { SiteStatus } from "../api/types";
import { secondsUntil } from "../format/time";
import { useTimeFormat } from "../i18n";

/** "retry in 12s (attempt 3)" for a site in error; nothing otherwise. */
export function RetryInfo({ site, nowMs }: { site: SiteStatus; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  if (site.status !== "error") return null;
  const seconds = secondsUntil(site.next_retry_at, nowMs);
  if (seconds === null) return null;
  return (
    <span className="muted" data-testid="retry-countdown">
      {seconds > 0 ? t("retry.in", { duration: format.duration(seconds) }) : t("retry.now")}
      {site.retry_count > 0 ? ` ${t("retry.attempt", { n: site.retry_count + 1 })}` : ""}
    </span>
  );
}
