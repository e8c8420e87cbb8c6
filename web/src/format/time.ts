/**
 * The one date and time formatter of the dashboard. Every date, time, duration and "ago" on
 * any page goes through a TimeFormat made for the current locale, so one page never mixes
 * formats; the hour cycle is the locale's own (24-hour in it-IT and en-GB, 12-hour in en-US).
 * `nowMs` is always passed in, so everything here stays pure and testable.
 */

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Seconds until `iso`, never negative; null when there is no such time. */
export function secondsUntil(iso: string | null | undefined, nowMs: number): number | null {
  const at = parseTime(iso);
  return at === null ? null : Math.max(0, (at - nowMs) / 1000);
}

type Unit = "second" | "minute" | "hour" | "day";
const UNIT_S: readonly [Unit, number][] = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

export class TimeFormat {
  readonly locale: string;
  private readonly full: Intl.DateTimeFormat;
  private readonly short: Intl.DateTimeFormat;
  private readonly clock: Intl.DateTimeFormat;
  private readonly clockSeconds: Intl.DateTimeFormat;
  private readonly day: Intl.DateTimeFormat;
  private readonly dayClock: Intl.DateTimeFormat;
  private readonly relative: Intl.RelativeTimeFormat;
  private readonly units: Map<Unit, Intl.NumberFormat>;
  private readonly numbers: Intl.NumberFormat;
  private readonly percent: Intl.NumberFormat;

  constructor(locale: string) {
    this.locale = locale;
    this.full = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" });
    this.short = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit" });
    this.clock = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" });
    this.clockSeconds = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", second: "2-digit" });
    this.day = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric" });
    this.dayClock = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
    this.relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto", style: "narrow" });
    this.units = new Map(
      UNIT_S.map(([unit]) => [unit, new Intl.NumberFormat(locale, { style: "unit", unit, unitDisplay: "narrow" })]),
    );
    this.numbers = new Intl.NumberFormat(locale);
    this.percent = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
  }

  /** Date and time to the second: "Dec 3, 2026, 10:18:05 PM" / "3 dic 2026, 22:18:05". */
  dateTime(iso: string | null | undefined): string {
    const at = parseTime(iso);
    return at === null ? "—" : this.full.format(at);
  }

  /** Month, day and time to the second, for table cells. */
  shortDateTime(iso: string | null | undefined): string {
    const at = parseTime(iso);
    return at === null ? "—" : this.short.format(at);
  }

  /** "3m 20s" in the locale's units (two largest units at most). */
  duration(seconds: number): string {
    let left = Math.max(0, Math.round(seconds));
    const parts: string[] = [];
    for (const [unit, size] of UNIT_S) {
      if (parts.length === 2) break;
      const n = Math.floor(left / size);
      if (n > 0 || (parts.length === 0 && unit === "second")) {
        parts.push(this.units.get(unit)?.format(n) ?? `${n}`);
        left -= n * size;
      } else if (parts.length > 0) break;
    }
    return parts.join(" ");
  }

  /** "12s ago" / "12 s fa", in the largest whole unit; null time → null (the caller says "never"). */
  ago(iso: string | null | undefined, nowMs: number): string | null {
    const at = parseTime(iso);
    if (at === null) return null;
    const seconds = Math.max(0, (nowMs - at) / 1000);
    for (const [unit, size] of UNIT_S) {
      if (seconds >= size || unit === "second") return this.relative.format(-Math.floor(seconds / size), unit);
    }
    return null;
  }

  number(value: number): string {
    return this.numbers.format(value);
  }

  percentOf(value: number | null | undefined): string {
    // A no-break space: "97,31 %" never splits over two lines.
    return value === null || value === undefined ? "—" : `${this.percent.format(value >= 99.995 ? 100 : value)}\u00a0%`;
  }

  /**
   * Tick labels of a time axis from `startS` to `endS` (seconds): clock times within a day,
   * day and time over a few days, days beyond; a new day is marked once, where it starts.
   */
  axisLabels(ticksS: readonly number[], spanS: number): string[] {
    let lastDay = "";
    return ticksS.map((s) => {
      const ms = s * 1000;
      if (spanS > 4 * 86400) return this.day.format(ms);
      const day = this.day.format(ms);
      const newDay = day !== lastDay;
      lastDay = day;
      if (spanS > 86400) return this.dayClock.format(ms);
      if (spanS <= 600) return newDay && ticksS[0] !== s ? this.dayClock.format(ms) : this.clockSeconds.format(ms);
      return newDay && ticksS[0] !== s ? this.dayClock.format(ms) : this.clock.format(ms);
    });
  }
}

/** Evenly spaced, round tick times (seconds) between two instants, about `count` of them. */
export function timeTicks(startS: number, endS: number, count: number): number[] {
  const span = Math.max(1, endS - startS);
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];
  const wanted = span / Math.max(1, count);
  const step = steps.find((s) => s >= wanted) ?? 86400 * Math.ceil(wanted / 86400);
  // Round to the local clock (a 6 h step falls on 00, 06, 12, 18 local time).
  const offsetS = new Date(startS * 1000).getTimezoneOffset() * 60;
  const first = Math.ceil((startS - offsetS) / step) * step + offsetS;
  const ticks: number[] = [];
  for (let t = first; t <= endS; t += step) ticks.push(t);
  return ticks;
}
