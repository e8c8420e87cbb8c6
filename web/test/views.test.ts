import { describe, expect, it } from "vitest";
import type { AvailabilityInterval, ConnectionEvent } from "../src/api/types";
import { DeviceReasons } from "../src/data/deviceReasons";
import { bucketFor } from "../src/data/readings";
import { parseSort, withParams, writeSort } from "../src/data/urlState";
import { availabilitySpans } from "../src/pages/datalogger/AvailabilityHistory";
import { extraReason } from "../src/pages/site/ConnectionCard";
import { translator } from "./i18n";

describe("availability history", () => {
  const now = Date.parse("2025-11-11T10:00:00Z");
  const iv = (availability: AvailabilityInterval["availability"], from: string, to: string | null): AvailabilityInterval => ({
    availability,
    started_at: `2025-11-11T${from}Z`,
    ended_at: to === null ? null : `2025-11-11T${to}Z`,
  });

  it("hides zero-length flaps and merges what they split, newest first", () => {
    const spans = availabilitySpans(
      [
        iv("online", "08:00:00", "09:00:00"),
        iv("unknown", "09:00:00", "09:00:00"),
        iv("unreachable", "09:00:00", "09:00:00.400"),
        iv("online", "09:00:00.400", null),
      ],
      now,
    );
    expect(spans.map((s) => s.interval.availability)).toEqual(["online"]);
    expect(spans[0]?.interval.ended_at).toBeNull();
    expect(spans[0]?.fromMs).toBe(Date.parse("2025-11-11T08:00:00Z"));
  });

  it("keeps real changes, newest first", () => {
    const spans = availabilitySpans([iv("online", "08:00:00", "09:00:00"), iv("offline", "09:00:00", null)], now);
    expect(spans.map((s) => s.interval.availability)).toEqual(["offline", "online"]);
  });
});

describe("connection history", () => {
  it("does not repeat an event's own name as its reason", () => {
    const event = (kind: ConnectionEvent["kind"], reason: string): ConnectionEvent => ({ kind, reason, at: "" });
    expect(extraReason(event("stopped", "Stopped"))).toBe("");
    expect(extraReason(event("lost", "keepalive timeout"))).toBe("keepalive timeout");
    expect(extraReason(event("failed", ""))).toBe("");
  });
});

describe("filters and sort in the URL", () => {
  it("reads and writes a sort, falling back for unknown keys", () => {
    const keys = ["name", "heartbeat"] as const;
    const fallback = { key: "name", direction: "asc" } as const;
    expect(parseSort("-heartbeat", keys, fallback)).toEqual({ key: "heartbeat", direction: "desc" });
    expect(parseSort("bogus", keys, fallback)).toEqual(fallback);
    expect(parseSort(null, keys, fallback)).toEqual(fallback);
    expect(writeSort({ key: "heartbeat", direction: "desc" })).toBe("-heartbeat");
  });

  it("sets and clears parameters without touching the others", () => {
    const next = withParams(new URLSearchParams("status=error&q=mil"), { q: "", sort: "-name" });
    expect(next.toString()).toBe("status=error&sort=-name");
  });
});

describe("long chart windows", () => {
  it("asks the database for round buckets, about 500 per window", () => {
    expect(bucketFor(24 * 3600)).toBe(300);
    expect(bucketFor(7 * 24 * 3600)).toBe(1800);
  });
});

describe("device reasons from the stream", () => {
  it("explains the current availability only", () => {
    const reasons = new DeviceReasons();
    reasons.record({
      type: "device.offline",
      site_id: 1,
      kind: "datalogger",
      id: 7,
      serial_number: "A",
      availability: "offline",
      reason: "status topic said offline",
      at: "",
    });
    expect(reasons.get("datalogger", 7, "offline")).toBe("status topic said offline");
    expect(reasons.get("datalogger", 7, "online")).toBeNull();
    expect(reasons.get("gateway", 7, "offline")).toBeNull();
  });
});

describe("Italian", () => {
  it("has every message, with its plurals", () => {
    const t = translator("it");
    expect(t("fleet.selected", { count: 1 })).toBe("1 selezionato");
    expect(t("fleet.selected", { count: 3 })).toBe("3 selezionati");
    expect(t("status.error")).toBe("Errore MQTT");
  });
});
