import { describe, expect, it } from "vitest";
import type { LiveEvent } from "../src/api/events";
import { planEvent } from "../src/data/eventPlan";
import { site } from "./fixtures";
import { toastInEnglish } from "./i18n";

const statusEvent = (overrides: Partial<Extract<LiveEvent, { type: "site.status" }>> = {}): LiveEvent => ({
  type: "site.status",
  site_id: 1,
  status: "connected",
  is_enabled: true,
  error_message: "",
  retry_count: 0,
  next_retry_at: null,
  at: "2025-11-11T10:35:02Z",
  ...overrides,
});

describe("planEvent", () => {
  it("site.status edits the site in place and invalidates the list, its status, its history and the actor tree", () => {
    const plan = planEvent(
      statusEvent({ status: "error", error_message: "Connection lost", retry_count: 1, next_retry_at: "2025-11-11T10:35:07Z" }),
      site(1, { status: "connected" }),
    );
    expect(plan.edits).toEqual([
      {
        kind: "site-status",
        siteId: 1,
        patch: {
          status: "error",
          is_enabled: true,
          error_message: "Connection lost",
          retry_count: 1,
          next_retry_at: "2025-11-11T10:35:07Z",
        },
      },
      // The link went down: the site's devices are unreachable now (the server says so too).
      { kind: "site-devices-unreachable", siteId: 1 },
    ]);
    expect(plan.settle).toEqual([
      ["dataloggers", "list", { siteId: 1 }],
      ["dataloggers", "list", { siteId: null }],
      ["gateways", "list", { siteId: 1 }],
      ["gateways", "list", { siteId: null }],
    ]);
    expect(plan.invalidate).toEqual([
      ["sites", "list"],
      ["sites", 1, "status"],
      ["sites", 1, "history"],
      ["actors"],
      ["dataloggers", "list", { siteId: 1 }],
      ["dataloggers", "list", { siteId: null }],
      ["gateways", "list", { siteId: 1 }],
      ["gateways", "list", { siteId: null }],
    ]);
    expect(plan.invalidateAll).toBe(false);
  });

  it("site.status leaves device lists alone when the link stays down (error → connecting)", () => {
    const plan = planEvent(statusEvent({ status: "connecting" }), site(1, { status: "error" }));
    expect(plan.invalidate).toEqual([["sites", "list"], ["sites", 1, "status"], ["sites", 1, "history"], ["actors"]]);
  });

  it("site.status toasts a real change with the site's code and the error", () => {
    const plan = planEvent(statusEvent({ status: "error", error_message: "Connection lost" }), site(1, { status: "connected" }));
    expect(plan.toast?.tone).toBe("error");
    expect(toastInEnglish(plan.toast, [site(1)])).toBe("Site 001 (site_001): MQTT error — Connection lost");
  });

  it("site.status does not toast a repeat, nor the transient statuses", () => {
    expect(planEvent(statusEvent({ status: "connected" }), site(1, { status: "connected" })).toast).toBeNull();
    expect(planEvent(statusEvent({ status: "connecting" }), site(1, { status: "error" })).toast).toBeNull();
    expect(planEvent(statusEvent({ status: "disabled" }), site(1, { status: "connected" })).toast).toBeNull();
  });

  it("site.status of a site not in the cache still toasts, named by the cache when the toast is drawn", () => {
    const toast = planEvent(statusEvent({ site_id: 7, status: "connected" })).toast;
    expect(toast?.tone).toBe("success");
    expect(toastInEnglish(toast)).toBe("site #7: MQTT connected");
    // The same toast, once the site is known: one name for a site, "name (code)", everywhere.
    expect(toastInEnglish(toast, [site(7)])).toBe("Site 007 (site_007): MQTT connected");
  });

  it("site.changed invalidates the sites list and everything of that site", () => {
    const plan = planEvent({ type: "site.changed", site_id: 4, change: "updated" });
    expect(plan.edits).toEqual([]);
    expect(plan.invalidate).toEqual([["sites", "list"], ["sites", 4], ["actors"]]);
  });

  it("site.changed for a deletion also drops the site from the list and refreshes device lists", () => {
    const plan = planEvent({ type: "site.changed", site_id: 4, change: "deleted" });
    expect(plan.edits).toEqual([{ kind: "site-removed", siteId: 4 }]);
    expect(plan.invalidate).toEqual(
      expect.arrayContaining([
        ["dataloggers", "list", { siteId: null }],
        ["dataloggers", "list", { siteId: 4 }],
        ["gateways", "list", { siteId: null }],
        ["gateways", "list", { siteId: 4 }],
      ]),
    );
  });

  it("a datalogger event invalidates that site's and the fleet's datalogger lists, the device and its sensors", () => {
    const plan = planEvent({
      type: "device.offline",
      site_id: 2,
      kind: "datalogger",
      id: 11,
      serial_number: "SN-11",
      availability: "offline",
      reason: "silent for 180 s",
      at: "",
    });
    expect(plan.edits).toEqual([{ kind: "datalogger-availability", siteId: 2, id: 11, availability: "offline" }]);
    expect(plan.invalidate).toEqual([
      ["dataloggers", "list", { siteId: 2 }],
      ["dataloggers", "list", { siteId: null }],
      ["dataloggers", "detail", 11],
      ["sensors", "byDatalogger", 11],
      ["actors"],
    ]);
    expect(plan.toast).toBeNull();
  });

  it("a device event refetches its rows once more after the server's storage has caught up", () => {
    const plan = planEvent({
      type: "device.online",
      site_id: 2,
      kind: "datalogger",
      id: 11,
      serial_number: "SN-11",
      availability: "online",
      reason: "",
      at: "",
    });
    expect(plan.settle).toEqual([
      ["dataloggers", "list", { siteId: 2 }],
      ["dataloggers", "list", { siteId: null }],
      ["dataloggers", "detail", 11],
      ["sensors", "byDatalogger", 11],
    ]);
  });

  it("an event for a device that has no id yet still refreshes its site's lists", () => {
    const plan = planEvent({
      type: "device.discovered",
      site_id: 2,
      kind: "datalogger",
      id: null,
      serial_number: "NEW-1",
      availability: "unknown",
      reason: "discovered",
      at: "",
    });
    expect(plan.edits).toEqual([]);
    expect(plan.invalidate).toEqual([["dataloggers", "list", { siteId: 2 }], ["dataloggers", "list", { siteId: null }], ["actors"]]);
    expect(plan.settle).toEqual([["dataloggers", "list", { siteId: 2 }], ["dataloggers", "list", { siteId: null }]]);
  });

  it("a gateway event invalidates gateway lists only", () => {
    const plan = planEvent({
      type: "device.discovered",
      site_id: 2,
      kind: "gateway",
      id: 5,
      serial_number: "1",
      availability: "online",
      reason: "",
      at: "",
    });
    expect(plan.edits).toEqual([{ kind: "gateway-availability", siteId: 2, id: 5, availability: "online" }]);
    expect(plan.invalidate).toEqual([
      ["gateways", "list", { siteId: 2 }],
      ["gateways", "list", { siteId: null }],
      ["actors"],
    ]);
  });

  it("command.published invalidates that site's commands and toasts the outcome", () => {
    const plan = planEvent(
      { type: "command.published", site_id: 3, command_id: "c1", outcome: "failed", error: "no PUBACK within 5 s" },
      site(3),
    );
    expect(plan.invalidate).toEqual([["sites", 3, "commands"]]);
    expect(plan.toast?.tone).toBe("error");
    expect(toastInEnglish(plan.toast, [site(3)])).toBe("Site 003 (site_003): command failed — no PUBACK within 5 s");
  });

  it("reset asks to invalidate everything and nothing else", () => {
    expect(planEvent({ type: "reset" })).toEqual({ edits: [], invalidate: [], settle: [], invalidateAll: true, toast: null });
  });
});
