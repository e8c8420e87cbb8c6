/** A datalogger's availability intervals, newest first, as a strip over the window and a list. */

import type { AvailabilityInterval } from "../../api/types";
import { AvailabilityBadge } from "../../components/AvailabilityBadge";
import { AVAILABILITY_TONES } from "../../format/status";
import { formatDateTime, formatDuration, parseTime } from "../../format/time";

const ROWS = 30;

interface Span {
  interval: AvailabilityInterval;
  fromMs: number;
  toMs: number;
}

function spans(intervals: readonly AvailabilityInterval[], nowMs: number): Span[] {
  return intervals
    .map((interval) => ({
      interval,
      fromMs: parseTime(interval.started_at) ?? nowMs,
      toMs: parseTime(interval.ended_at) ?? nowMs,
    }))
    .sort((a, b) => b.fromMs - a.fromMs);
}

export function AvailabilityHistory({ intervals, nowMs }: { intervals: readonly AvailabilityInterval[]; nowMs: number }) {
  if (intervals.length === 0) return <p className="muted">No availability recorded yet.</p>;
  const all = spans(intervals, nowMs);
  const start = Math.min(...all.map((s) => s.fromMs));
  const total = Math.max(1, nowMs - start);
  return (
    <div data-testid="availability-history">
      <div className="strip" aria-hidden="true">
        {all.map((s, index) => (
          <span
            key={index}
            className={`strip-part ${AVAILABILITY_TONES[s.interval.availability]}`}
            style={{ left: `${((s.fromMs - start) / total) * 100}%`, width: `${((s.toMs - s.fromMs) / total) * 100}%` }}
          />
        ))}
      </div>
      <ol className="plain history-list">
        {all.slice(0, ROWS).map((s, index) => (
          <li key={index}>
            <AvailabilityBadge availability={s.interval.availability} />{" "}
            <span>{formatDateTime(s.interval.started_at)}</span>
            <span className="muted">
              {" · "}
              {s.interval.ended_at === null ? "ongoing, " : ""}
              {formatDuration((s.toMs - s.fromMs) / 1000)}
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}
