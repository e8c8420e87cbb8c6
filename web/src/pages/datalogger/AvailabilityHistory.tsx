/**
 * A datalogger's availability over the last days, as a strip and as a list, newest first.
 * Bounded: the strip covers at most STRIP_S, the list at most ROWS rows, and intervals that
 * lasted under a second (the unknown→unreachable flap of a restart) are left out.
 */

import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { AvailabilityInterval } from "../../api/types";
import { AvailabilityBadge } from "../../components/AvailabilityBadge";
import { AVAILABILITY_TONES } from "../../format/status";
import { parseTime } from "../../format/time";
import { useTimeFormat } from "../../i18n";

const ROWS = 10;
const STRIP_S = 7 * 86400;

export interface Span {
  interval: AvailabilityInterval;
  fromMs: number;
  toMs: number;
}

/** Newest first, without zero-length flaps, neighbours of one availability merged. */
export function availabilitySpans(intervals: readonly AvailabilityInterval[], nowMs: number): Span[] {
  const sorted = intervals
    .map((interval) => ({
      interval,
      fromMs: parseTime(interval.started_at) ?? nowMs,
      toMs: parseTime(interval.ended_at) ?? nowMs,
    }))
    .filter((s) => s.interval.ended_at === null || s.toMs - s.fromMs >= 1000)
    .sort((a, b) => a.fromMs - b.fromMs);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged.at(-1);
    if (last && last.interval.availability === span.interval.availability) {
      merged[merged.length - 1] = {
        interval: { ...last.interval, ended_at: span.interval.ended_at },
        fromMs: last.fromMs,
        toMs: Math.max(last.toMs, span.toMs),
      };
    } else merged.push(span);
  }
  return merged.reverse();
}

export function AvailabilityHistory({ intervals, nowMs }: { intervals: readonly AvailabilityInterval[]; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const [all, setAll] = useState(false);
  const spans = availabilitySpans(intervals, nowMs);
  if (spans.length === 0) return <p className="muted">{t("availabilityHistory.none")}</p>;
  const start = Math.max(Math.min(...spans.map((s) => s.fromMs)), nowMs - STRIP_S * 1000);
  const total = Math.max(1, nowMs - start);
  const shown = all ? spans : spans.slice(0, ROWS);
  return (
    <div data-testid="availability-history">
      <div className="strip" aria-hidden="true">
        {spans
          .filter((s) => s.toMs > start)
          .map((s) => {
            const from = Math.max(s.fromMs, start);
            return (
              <span
                key={s.fromMs}
                className={`strip-part ${AVAILABILITY_TONES[s.interval.availability]}`}
                style={{ left: `${((from - start) / total) * 100}%`, width: `${((s.toMs - from) / total) * 100}%` }}
              />
            );
          })}
      </div>
      <ol className="plain history-list">
        {shown.map((s) => (
          <li key={s.fromMs} data-testid="availability-row">
            <AvailabilityBadge availability={s.interval.availability} /> <span>{format.dateTime(s.interval.started_at)}</span>
            <span className="muted">
              {" · "}
              {s.interval.ended_at === null
                ? t("availabilityHistory.ongoing", { duration: format.duration((s.toMs - s.fromMs) / 1000) })
                : format.duration((s.toMs - s.fromMs) / 1000)}
            </span>
          </li>
        ))}
      </ol>
      {spans.length > ROWS && (
        <button type="button" className="button ghost" onClick={() => setAll(!all)}>
          {all ? t("availabilityHistory.fewer") : t("availabilityHistory.more", { count: spans.length - ROWS })}
        </button>
      )}
    </div>
  );
}
