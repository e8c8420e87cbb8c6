import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { DataloggersResponse, SitesResponse, SiteStatus } from "../src/api/types";
import { applyEvent } from "../src/data/applyEvent";
import type { ToastSpec } from "../src/data/eventPlan";
import { InvalidationBatcher, type Scheduler } from "../src/data/invalidationBatcher";
import { queryKeys, type QueryKey } from "../src/data/queryKeys";
import { datalogger, site } from "./fixtures";
import { toastInEnglish } from "./i18n";

/** A scheduler that runs nothing until the test says so. */
class ManualScheduler implements Scheduler {
  callbacks: (() => void)[] = [];
  setTimeout(callback: () => void): unknown {
    this.callbacks.push(callback);
    return this.callbacks.length;
  }
  clearTimeout(): void {}
  runAll(): void {
    const due = this.callbacks;
    this.callbacks = [];
    for (const callback of due) callback();
  }
}

function setup() {
  const client = new QueryClient();
  const scheduler = new ManualScheduler();
  const batcher = new InvalidationBatcher(client, 250, scheduler);
  const toasts: ToastSpec[] = [];
  return { client, scheduler, batcher, toasts, notify: (toast: ToastSpec) => toasts.push(toast) };
}

const invalidated = (client: QueryClient, key: QueryKey) => client.getQueryState(key)?.isInvalidated ?? false;

describe("applyEvent", () => {
  it("site.status changes the badge data of the sites list and the site's status at once", () => {
    const { client, batcher, notify, toasts } = setup();
    const other = site(2, { status: "connected" });
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1, { status: "connected" }), other] });
    client.setQueryData<SiteStatus>(queryKeys.siteStatus(1), site(1, { status: "connected" }));

    applyEvent(
      client,
      batcher,
      {
        type: "site.status",
        site_id: 1,
        status: "error",
        is_enabled: true,
        error_message: "Connection lost",
        retry_count: 1,
        next_retry_at: "2025-11-11T10:35:07Z",
        at: "",
      },
      notify,
    );

    const list = client.getQueryData<SitesResponse>(queryKeys.siteList());
    expect(list?.sites[0]).toMatchObject({ status: "error", error_message: "Connection lost", retry_count: 1 });
    expect(list?.sites[1]).toBe(other);
    expect(client.getQueryData<SiteStatus>(queryKeys.siteStatus(1))?.status).toBe("error");
    expect(toasts.map((toast) => toastInEnglish(toast, [site(1)]))).toEqual(["Site 001 (site_001): MQTT error — Connection lost"]);
  });

  it("invalidates only after the batch delay, each key once, and only the keys of the event", () => {
    const { client, scheduler, batcher, notify } = setup();
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1), site(2)] });
    client.setQueryData(queryKeys.siteHistory(1), { events: [] });
    client.setQueryData(queryKeys.siteHistory(2), { events: [] });
    client.setQueryData(queryKeys.siteCommands(1), { commands: [] });

    for (const status of ["connecting", "connected"] as const) {
      applyEvent(
        client,
        batcher,
        { type: "site.status", site_id: 1, status, is_enabled: true, error_message: "", retry_count: 0, next_retry_at: null, at: "" },
        notify,
      );
    }
    expect(invalidated(client, queryKeys.siteList())).toBe(false);
    // One for the batch, and one second look at the device lists per event that may have
    // moved the link (disconnected → connecting → connected).
    expect(scheduler.callbacks).toHaveLength(3);

    scheduler.runAll();
    expect(invalidated(client, queryKeys.siteList())).toBe(true);
    expect(invalidated(client, queryKeys.siteHistory(1))).toBe(true);
    expect(invalidated(client, queryKeys.siteHistory(2))).toBe(false);
    expect(invalidated(client, queryKeys.siteCommands(1))).toBe(false);
  });

  it("after Stop, the optimistic 'Disconnecting...' does not hide that the devices went unreachable", () => {
    const { client, batcher, notify } = setup();
    // What the cache holds right after Stop: the optimistic status, the devices still online.
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1, { status: "disabled" })] });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(1), { dataloggers: [datalogger(10, 1)] });
    applyEvent(
      client,
      batcher,
      { type: "site.status", site_id: 1, status: "disconnected", is_enabled: false, error_message: "", retry_count: 0, next_retry_at: null, at: "" },
      notify,
    );
    expect(client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(1))?.dataloggers[0]?.availability).toBe("unreachable");
  });

  it("a retry loop leaves unchanged device lists as they are (same objects)", () => {
    const { client, batcher, notify } = setup();
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1, { status: "error" })] });
    const list = { dataloggers: [datalogger(10, 1, { availability: "unreachable" })] };
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(1), list);
    applyEvent(
      client,
      batcher,
      { type: "site.status", site_id: 1, status: "connecting", is_enabled: true, error_message: "", retry_count: 2, next_retry_at: null, at: "" },
      notify,
    );
    expect(client.getQueryData(queryKeys.dataloggerList(1))).toBe(list);
  });

  it("a site whose link goes down shows its devices unreachable at once, in its list and the fleet's", () => {
    const { client, batcher, notify } = setup();
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1, { status: "connected" }), site(2)] });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(1), { dataloggers: [datalogger(10, 1)] });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(null), {
      dataloggers: [datalogger(10, 1), datalogger(11, 2)],
    });
    applyEvent(
      client,
      batcher,
      { type: "site.status", site_id: 1, status: "disconnected", is_enabled: false, error_message: "", retry_count: 0, next_retry_at: null, at: "" },
      notify,
    );
    expect(client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(1))?.dataloggers[0]?.availability).toBe("unreachable");
    const fleet = client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(null))?.dataloggers;
    expect(fleet?.map((d) => d.availability)).toEqual(["unreachable", "online"]);
  });

  it("a device event flips the device's availability in the site list and in the fleet list", () => {
    const { client, scheduler, batcher, notify } = setup();
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(2), { dataloggers: [datalogger(11, 2)] });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(null), {
      dataloggers: [datalogger(10, 1), datalogger(11, 2)],
    });
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(1), { dataloggers: [datalogger(10, 1)] });

    applyEvent(
      client,
      batcher,
      {
        type: "device.offline",
        site_id: 2,
        kind: "datalogger",
        id: 11,
        serial_number: "SN-11",
        availability: "offline",
        reason: "",
        at: "",
      },
      notify,
    );

    expect(client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(2))?.dataloggers[0]).toMatchObject({
      availability: "offline",
      is_online: false,
    });
    expect(client.getQueryData<DataloggersResponse>(queryKeys.dataloggerList(null))?.dataloggers[1]?.availability).toBe(
      "offline",
    );
    scheduler.runAll();
    expect(invalidated(client, queryKeys.dataloggerList(2))).toBe(true);
    expect(invalidated(client, queryKeys.dataloggerList(null))).toBe(true);
    expect(invalidated(client, queryKeys.dataloggerList(1))).toBe(false);
  });

  it("a device event invalidates its lists again a second later, when storage has the row", () => {
    const { client, scheduler, batcher, notify } = setup();
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(2), { dataloggers: [] });
    applyEvent(
      client,
      batcher,
      { type: "device.discovered", site_id: 2, kind: "datalogger", id: null, serial_number: "NEW", availability: "unknown", reason: "", at: "" },
      notify,
    );
    expect(scheduler.callbacks).toHaveLength(2); // the batch flush, and the settle re-invalidation
    scheduler.runAll();
    expect(invalidated(client, queryKeys.dataloggerList(2))).toBe(true);
    // Refetched meanwhile (here: set afresh), then invalidated once more by the settle pass.
    client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(2), { dataloggers: [datalogger(1, 2)] });
    expect(invalidated(client, queryKeys.dataloggerList(2))).toBe(false);
    scheduler.runAll();
    expect(invalidated(client, queryKeys.dataloggerList(2))).toBe(true);
  });

  it("reset invalidates every query", () => {
    const { client, scheduler, batcher, notify } = setup();
    const keys: QueryKey[] = [
      queryKeys.me(),
      queryKeys.siteList(),
      queryKeys.siteCommands(3),
      queryKeys.dataloggerList(null),
      queryKeys.readings(5, 3600),
      queryKeys.audit(),
    ];
    for (const key of keys) client.setQueryData(key, {});

    applyEvent(client, batcher, { type: "reset" }, notify);
    scheduler.runAll();

    for (const key of keys) expect(invalidated(client, key)).toBe(true);
  });

  it("site.changed deleted removes the site from the list", () => {
    const { client, batcher, notify } = setup();
    client.setQueryData<SitesResponse>(queryKeys.siteList(), { sites: [site(1), site(4)] });
    applyEvent(client, batcher, { type: "site.changed", site_id: 4, change: "deleted" }, notify);
    expect(client.getQueryData<SitesResponse>(queryKeys.siteList())?.sites.map((s) => s.site_id)).toEqual([1]);
  });
});
