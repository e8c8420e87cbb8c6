import { MutationObserver, QueryClient } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../src/api/client";
import type { ControlAction } from "../src/api/endpoints";
import type { ControlResult, SitesResponse, SiteStatus } from "../src/api/types";
import type { ToastSpec } from "../src/data/eventPlan";
import { applyEvent } from "../src/data/applyEvent";
import { InvalidationBatcher } from "../src/data/invalidationBatcher";
import { applyOptimistic, optimisticPatch, rollbackOptimistic } from "../src/data/optimisticControl";
import { pendingControls } from "../src/data/pendingControls";
import { queryKeys } from "../src/data/queryKeys";
import { siteControlOptions } from "../src/data/siteControl";
import { site } from "./fixtures";
import { toastInEnglish } from "./i18n";

function seeded(status: SiteStatus["status"], isEnabled: boolean) {
  const client = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  client.setQueryData<SitesResponse>(queryKeys.siteList(), {
    sites: [site(1, { status, is_enabled: isEnabled }), site(2)],
  });
  client.setQueryData<SiteStatus>(queryKeys.siteStatus(1), site(1, { status, is_enabled: isEnabled }));
  return client;
}

const listed = (client: QueryClient, id = 1) =>
  client.getQueryData<SitesResponse>(queryKeys.siteList())?.sites.find((s) => s.site_id === id);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("optimistic start/stop", () => {
  it("start shows Connecting... (connecting, enabled) and stop shows Disconnecting... (disabled, not enabled)", () => {
    expect(optimisticPatch("start")).toEqual({ status: "connecting", is_enabled: true });
    expect(optimisticPatch("stop")).toEqual({ status: "disabled", is_enabled: false });
    expect(optimisticPatch("reconnect")).toBeNull();
  });

  it("applies to the sites list and the site's status, leaving other sites untouched", async () => {
    const client = seeded("disconnected", false);
    const before2 = listed(client, 2);
    const snapshot = await applyOptimistic(client, 1, "start");
    expect(snapshot).toEqual({
      siteId: 1,
      applied: { status: "connecting", is_enabled: true },
      previous: { status: "disconnected", is_enabled: false },
    });
    expect(listed(client)).toMatchObject({ status: "connecting", is_enabled: true });
    expect(client.getQueryData<SiteStatus>(queryKeys.siteStatus(1))?.status).toBe("connecting");
    expect(listed(client, 2)).toBe(before2);
  });

  it("rollback restores the previous status", async () => {
    const client = seeded("connected", true);
    const snapshot = await applyOptimistic(client, 1, "stop");
    expect(listed(client)?.status).toBe("disabled");
    rollbackOptimistic(client, snapshot!);
    expect(listed(client)).toMatchObject({ status: "connected", is_enabled: true });
    expect(client.getQueryData<SiteStatus>(queryKeys.siteStatus(1))?.status).toBe("connected");
  });

  it("rollback leaves alone a status that a real event has set meanwhile", async () => {
    const client = seeded("disconnected", false);
    const snapshot = await applyOptimistic(client, 1, "start");
    client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) => ({
      sites: list!.sites.map((s) => (s.site_id === 1 ? { ...s, status: "connected" } : s)),
    }));
    rollbackOptimistic(client, snapshot!);
    expect(listed(client)?.status).toBe("connected");
  });
});

describe("siteControlOptions", () => {
  function run(client: QueryClient, action: ControlAction, send: () => Promise<ControlResult>) {
    const toasts: ToastSpec[] = [];
    const observer = new MutationObserver(
      client,
      siteControlOptions(client, (toast) => toasts.push(toast), send),
    );
    return { toasts, result: observer.mutate({ siteId: 1, action }) };
  }

  it("keeps the optimistic badge after a successful start until an event replaces it", async () => {
    const client = seeded("disconnected", false);
    const { toasts, result } = run(client, "start", async () => ({ success: true, message: "Site 1 enabled." }));
    await result;
    expect(listed(client)).toMatchObject({ status: "connecting", is_enabled: true });
    expect(toasts.map((toast) => toastInEnglish(toast, [site(1)]))).toEqual(["Site 001 (site_001): MQTT started"]);
  });

  it("rolls back and says why when the server refuses", async () => {
    const client = seeded("connected", true);
    const { toasts, result } = run(client, "stop", async () => {
      throw new ApiError(403, "admin role required");
    });
    await expect(result).rejects.toThrow("admin role required");
    expect(listed(client)).toMatchObject({ status: "connected", is_enabled: true });
    expect(toasts.map((toast) => toastInEnglish(toast, [site(1)]))).toEqual(["Site 001 (site_001): stop failed — admin role required"]);
  });

  it("reconnect changes no badge but still reports failure", async () => {
    const client = seeded("error", true);
    const { toasts, result } = run(client, "reconnect", async () => {
      throw new ApiError(503, "site actor busy");
    });
    await expect(result).rejects.toThrow();
    expect(listed(client)?.status).toBe("error");
    expect(toasts[0]?.tone).toBe("error");
  });
});

describe("pending controls", () => {
  it("a refetch answered with the old status does not undo the optimistic badge", async () => {
    const client = seeded("disconnected", false);
    await applyOptimistic(client, 1, "start");
    const stale = { sites: [site(1, { status: "disconnected" }), site(2)] };
    expect(pendingControls(client).overlayList(stale).sites[0]).toMatchObject({ status: "connecting", is_enabled: true });
    expect(pendingControls(client).overlaySite(site(1)).status).toBe("connecting");
    expect(pendingControls(client).overlaySite(site(2)).status).toBe("disconnected");
  });

  it("the site's next site.status event ends the protection and sets the real status", async () => {
    const client = seeded("disconnected", false);
    await applyOptimistic(client, 1, "start");
    const batcher = new InvalidationBatcher(client, 250, { setTimeout: () => 0, clearTimeout: () => {} });
    applyEvent(
      client,
      batcher,
      { type: "site.status", site_id: 1, status: "connected", is_enabled: true, error_message: "", retry_count: 0, next_retry_at: null, at: "" },
      () => {},
    );
    expect(pendingControls(client).has(1)).toBe(false);
    expect(listed(client)?.status).toBe("connected");
  });

  it("a rollback ends the protection", async () => {
    const client = seeded("connected", true);
    const snapshot = await applyOptimistic(client, 1, "stop");
    rollbackOptimistic(client, snapshot!);
    expect(pendingControls(client).has(1)).toBe(false);
  });

  it("without any event, the protection ends a while after the request succeeded", async () => {
    const client = seeded("connected", true);
    const observer = new MutationObserver(client, siteControlOptions(client, () => {}, async () => ({ success: true, message: "" })));
    await observer.mutate({ siteId: 1, action: "stop" });
    expect(pendingControls(client).has(1)).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(pendingControls(client).has(1)).toBe(false);
  });
});
