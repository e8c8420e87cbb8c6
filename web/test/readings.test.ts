import { describe, expect, it } from "vitest";
import type { Reading } from "../src/api/types";
import { fetchReadingsWindow, toChartColumns } from "../src/data/readings";

/** A readings endpoint over a fixed series: since inclusive, oldest first, cut at limit. */
function endpoint(series: Reading[]) {
  const calls: string[] = [];
  const fetchPage = async (since: string, limit: number) => {
    calls.push(since);
    return series.filter((r) => r.at >= since).slice(0, limit);
  };
  return { fetchPage, calls };
}

const at = (s: number) => new Date(Date.UTC(2025, 10, 11, 10, 0, s)).toISOString();
const series = (n: number): Reading[] => Array.from({ length: n }, (_, i) => ({ at: at(i), value: i }));

describe("fetchReadingsWindow", () => {
  it("stops after one short page", async () => {
    const { fetchPage, calls } = endpoint(series(3));
    const window = await fetchReadingsWindow(fetchPage, at(0), 10, 5);
    expect(window).toEqual({ readings: series(3), truncated: false });
    expect(calls).toHaveLength(1);
  });

  it("pages through a long window without repeating the rows at page edges", async () => {
    const { fetchPage } = endpoint(series(25));
    const window = await fetchReadingsWindow(fetchPage, at(0), 10, 5);
    expect(window.readings.map((r) => r.value)).toEqual(series(25).map((r) => r.value));
    expect(window.truncated).toBe(false);
  });

  it("says when it stopped at maxPages", async () => {
    const { fetchPage } = endpoint(series(100));
    const window = await fetchReadingsWindow(fetchPage, at(0), 10, 2);
    expect(window.truncated).toBe(true);
    expect(window.readings).toHaveLength(19);
  });
});

describe("toChartColumns", () => {
  it("gives epoch seconds and values, with null for missing values", () => {
    expect(
      toChartColumns([
        { at: "2025-11-11T10:00:00Z", value: 1.5 },
        { at: "2025-11-11T10:00:10Z", value: null },
      ]),
    ).toEqual([[1762855200, 1762855210], [1.5, null]]);
  });
});
