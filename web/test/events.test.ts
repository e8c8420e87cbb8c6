import { describe, expect, it } from "vitest";
import { parseEvent } from "../src/api/events";

describe("parseEvent", () => {
  it("reads a site.status event as the API documents it", () => {
    const event = parseEvent(
      "site.status",
      JSON.stringify({
        site_id: 1,
        status: "error",
        is_enabled: true,
        error_message: "Connection lost",
        retry_count: 2,
        next_retry_at: "2025-11-11T10:35:12Z",
        at: "2025-11-11T10:35:02Z",
      }),
    );
    expect(event).toEqual({
      type: "site.status",
      site_id: 1,
      status: "error",
      is_enabled: true,
      error_message: "Connection lost",
      retry_count: 2,
      next_retry_at: "2025-11-11T10:35:12Z",
      at: "2025-11-11T10:35:02Z",
    });
  });

  it("reads device events for dataloggers and for gateways", () => {
    expect(
      parseEvent("device.offline", JSON.stringify({ site_id: 3, datalogger_id: 9, availability: "offline", reason: "silent" })),
    ).toMatchObject({ type: "device.offline", site_id: 3, kind: "datalogger", id: 9, availability: "offline" });
    expect(parseEvent("device.online", JSON.stringify({ site_id: 3, gateway_id: 4, availability: "online" }))).toMatchObject({
      kind: "gateway",
      id: 4,
    });
  });

  it("reads a device event whose id storage has not assigned yet", () => {
    expect(parseEvent("device.discovered", JSON.stringify({ site_id: 3, datalogger_id: null, serial_number: "X" }))).toMatchObject({
      kind: "datalogger",
      id: null,
      serial_number: "X",
    });
  });

  it("turns reset into a reset whatever its data", () => {
    expect(parseEvent("reset", "")).toEqual({ type: "reset" });
    expect(parseEvent("reset", "{}")).toEqual({ type: "reset" });
  });

  it("ignores what it cannot use instead of throwing", () => {
    expect(parseEvent("site.status", "not json")).toBeNull();
    expect(parseEvent("site.status", JSON.stringify({ site_id: 1, status: "sleeping" }))).toBeNull();
    expect(parseEvent("sensor.reading", JSON.stringify({ site_id: 1 }))).toBeNull();
    expect(parseEvent("site.changed", "[1,2]")).toBeNull();
  });

  it("keeps an unknown availability or outcome out of the typed fields", () => {
    expect(parseEvent("device.online", JSON.stringify({ site_id: 1, datalogger_id: 2, availability: "maybe" }))).toMatchObject({
      availability: null,
    });
    expect(parseEvent("command.published", JSON.stringify({ site_id: 1, command_id: 7, outcome: "??" }))).toMatchObject({
      command_id: "7",
      outcome: null,
    });
  });
});
