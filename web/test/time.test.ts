import { describe, expect, it } from "vitest";
import { secondsUntil, TimeFormat, timeTicks } from "../src/format/time";
import { localeFor, pickLanguage } from "../src/i18n/language";

const now = Date.parse("2025-11-11T10:00:00Z");
const us = new TimeFormat("en-US");
const italian = new TimeFormat("it-IT");

describe("the one time formatter", () => {
  it("says durations and ages in the locale's words", () => {
    expect(us.duration(4)).toBe("4s");
    expect(us.duration(200)).toBe("3m 20s");
    expect(us.duration(7500)).toBe("2h 5m");
    expect(us.ago("2025-11-11T09:59:48Z", now)).toBe("12s ago");
    expect(us.ago("2025-11-11T09:56:30Z", now)).toBe("3m ago");
    expect(us.ago(null, now)).toBeNull();
    expect(italian.ago("2025-11-11T09:59:48Z", now)).toBe("12 s fa");
    expect(italian.duration(200)).toBe("3min 20s");
  });

  it("uses the locale's clock: 24-hour in Italian, 12-hour in US English", () => {
    const at = "2026-12-03T21:18:05Z";
    expect(italian.dateTime(at)).not.toMatch(/AM|PM/i);
    expect(us.dateTime(at)).toMatch(/AM|PM/);
    expect(new TimeFormat("en-GB").dateTime(at)).not.toMatch(/AM|PM/i);
    expect(us.dateTime(null)).toBe("—");
  });

  it("formats percentages and counts by locale", () => {
    expect(us.percentOf(99.5)).toBe("99.5\u00a0%");
    expect(italian.percentOf(99.5)).toBe("99,5\u00a0%");
    expect(us.percentOf(99.999)).toBe("100\u00a0%");
    expect(us.percentOf(null)).toBe("—");
    expect(italian.number(12345)).toBe("12.345");
  });

  it("counts down to a time, never below zero", () => {
    expect(secondsUntil("2025-11-11T10:00:30Z", now)).toBe(30);
    expect(secondsUntil("2025-11-11T09:00:00Z", now)).toBe(0);
    expect(secondsUntil(null, now)).toBeNull();
  });
});

describe("chart time axis", () => {
  it("puts round ticks inside the window, as many as fit", () => {
    const end = now / 1000;
    const ticks = timeTicks(end - 3600, end, 6);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks.length).toBeLessThanOrEqual(7);
    expect(ticks.every((t) => t >= end - 3600 && t <= end)).toBe(true);
    expect(ticks[0]! % 600).toBe(0);
    const week = timeTicks(end - 7 * 86400, end, 8);
    expect(week.length).toBeGreaterThanOrEqual(4);
    expect(week.length).toBeLessThanOrEqual(8);
  });

  it("labels ticks without repeating the date on each, and never overlapping text", () => {
    const end = now / 1000;
    const ticks = timeTicks(end - 3600, end, 6);
    const labels = italian.axisLabels(ticks, 3600);
    expect(new Set(labels).size).toBe(labels.length);
    for (const label of labels) expect(label.length).toBeLessThanOrEqual(14);
    const days = us.axisLabels(timeTicks(end - 7 * 86400, end, 7), 7 * 86400);
    for (const label of days) expect(label).toMatch(/^[A-Z][a-z]{2} \d{1,2}$/);
  });
});

describe("language", () => {
  it("follows the browser unless a choice is stored", () => {
    expect(pickLanguage(null, ["it-IT", "en-US"])).toBe("it");
    expect(pickLanguage(null, ["de-DE", "en-GB"])).toBe("en");
    expect(pickLanguage(null, ["fr-FR"])).toBe("en");
    expect(pickLanguage("en", ["it-IT"])).toBe("en");
    expect(pickLanguage("xx", ["it-IT"])).toBe("it");
  });

  it("keeps the browser's region for dates", () => {
    expect(localeFor("en", ["en-GB"])).toBe("en-GB");
    expect(localeFor("it", ["en-US"])).toBe("it-IT");
    expect(localeFor("en", ["it-IT"])).toBe("en-US");
  });
});
