import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { LiveEvent } from "../src/api/events";
import type { DataloggersResponse, SitesResponse } from "../src/api/types";
import { applyEvents, mergeEdits } from "../src/data/applyEvent";
import { patchDevicesInList, patchSitesInList } from "../src/data/cacheEdits";
import type { ToastSpec } from "../src/data/eventPlan";
import { EventQueue } from "../src/data/eventQueue";
import { InvalidationBatcher } from "../src/data/invalidationBatcher";
import { queryKeys } from "../src/data/queryKeys";
import { datalogger, site } from "./fixtures";
import { toastInEnglish } from "./i18n";

const never = { setTimeout: () => 0, clearTimeout: () => {} };

const status = (siteId: number, value: "error" | "connected", error = ""): LiveEvent => ({
  type: "site.status",
  site_id: siteId,
  status: value,
  is_enabled: true,
  error_message: error,
  retry_count: value === "error" ? 1 : 0,
  next_retry_at: null,
  at: "",
});

describe("merged edits", () => {
  it("keeps the last word on each site, and a removal beats any patch", () => {
    const merged = mergeEdits([
      { kind: "site-status", siteId: 1, patch: { status: "error", error_message: "Connection lost" } },
      { kind: "site-status", siteId: 1, patch: { status: "connecting" } },
      { kind: "site-status", siteId: 2, patch: { status: "connected" } },
      { kind: "site-removed", siteId: 2 },
      { kind: "datalogger-availability", siteId: 1, id: 7, availability: "offline" },
      { kind: "datalogger-availability", siteId: 1, id: 7, availability: "online" },
    ]);
    expect(merged.sites).toEqual(new Map([[1, { status: "connecting", error_message: "Connection lost" }]]));
    expect(merged.removedSites).toEqual(new Set([2]));
    expect(merged.dataloggers).toEqual(new Map([[7, { siteId: 1, availability: "online" }]]));
  });

  it("returns the very same list when nothing in it changes", () => {
    const list: SitesResponse = { sites: [site(1), site(2)] };
    expect(patchSitesInList(list, new Map([[9, { status: "error" }]]))).toBe(list);
    expect(patchSitesInList(list, new Map([[1, { status: "disconnected" }]]))).toBe(list);
    const devices: DataloggersResponse = { dataloggers: [datalogger(1, 1)] };
    expect(patchDevicesInList(devices, "dataloggers", new Map([[1, "online"]]))).toBe(devices);
  });
});

describe("applyEvents", () => {
  it("an outage of 1,000 sites and 20,000 devices is applied in one pass", () => {
    const client = new QueryClient();
    const sites = Array.from({ length: 1000 }, (_, i) => site(i + 1, { status: "connected" }));
    const devices = Array.from({ length: 20_000 }, (_, i) => datalogger(i + 1, (i % 1000) + 1));
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(null), { dataloggers: devices });
    const events: LiveEvent[] = [
      ...sites.map((s) => status(s.site_id, "error", "Connection lost")),
      ...devices.map(
        (d): LiveEvent => ({
          type: "device.offline",
          site_id: d.site_id,
          kind: "datalogger",
          id: d.id,
          serial_number: d.serial_number,
          availability: "offline",
          reason: "",
          at: "",
        }),
      ),
    ];
    const toasts: ToastSpec[] = [];
    applyEvents(client, new InvalidationBatcher(client, 250, never), events, (t) => toasts.push(t));

    const list = client.getQueryData<SitesResponse>(queryKeys.siteList());
    expect(list?.sites.every((s) => s.status === "error")).toBe(true);
    const fleet = client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(null));
    expect(fleet?.dataloggers.every((d) => d.availability === "offline")).toBe(true);
    expect(toasts).toHaveLength(1000);
  });

  it("toasts a site's change once even when the batch repeats it", () => {
    const client = new QueryClient();
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1, { status: "connected" })] });
    const toasts: ToastSpec[] = [];
    applyEvents(
      client,
      new InvalidationBatcher(client, 250, never),
      [status(1, "error", "Connection lost"), status(1, "error", "Connection lost"), status(1, "connected")],
      (t) => toasts.push(t),
    );
    expect(toasts.map((t) => toastInEnglish(t, [site(1)]))).toEqual([
      "Site 001 (site_001): MQTT error — Connection lost",
      "Site 001 (site_001): MQTT connected",
    ]);
  });
});

describe("EventQueue", () => {
  it("delivers the events of one window as one batch, in order", () => {
    const timers: (() => void)[] = [];
    const batches: LiveEvent[][] = [];
    const queue = new EventQueue(
      (events) => batches.push(events),
      50,
      (callback) => timers.push(callback),
      () => {},
    );
    queue.push({ type: "reset" });
    queue.push(status(1, "connected"));
    expect(timers).toHaveLength(1);
    expect(batches).toEqual([]);
    timers[0]?.();
    expect(batches).toEqual([[{ type: "reset" }, status(1, "connected")]]);
    queue.push(status(2, "error"));
    expect(timers).toHaveLength(2);
  });
});
