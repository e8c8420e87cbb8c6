import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { parseEvent, type LiveEvent } from "../src/api/events";
import type { AlertsResponse } from "../src/api/types";
import { FIRING, firingCount } from "../src/data/alerts";
import { applyEvents } from "../src/data/applyEvent";
import { planEvent, type ToastSpec } from "../src/data/eventPlan";
import { InvalidationBatcher, type Scheduler } from "../src/data/invalidationBatcher";
import { queryKeys } from "../src/data/queryKeys";
import { alert } from "./fixtures";
import { toastInEnglish } from "./i18n";

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

/** The alert as the server writes it on the stream (API.md: data is the alert). */
const wire = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 9,
    rule_id: 2,
    kind: "site_down",
    state: "firing",
    site_id: 1,
    device_id: null,
    sensor_id: null,
    message: "Site 001: MQTT error — Connection refused, for 1 min",
    started_at: "2025-11-11T10:30:00Z",
    fired_at: "2025-11-11T10:31:00Z",
    resolved_at: null,
    acknowledged_by: null,
    acknowledged_at: null,
    silenced: false,
    notifications: [
      { id: 5, channel_id: 3, transition: "firing", at: "2025-11-11T10:31:01Z", outcome: "failed", attempts: 2, error: "HTTP 502" },
    ],
    ...overrides,
  });

describe("parseEvent for alerts", () => {
  it("reads alert.firing with its notifications", () => {
    const event = parseEvent("alert.firing", wire());
    expect(event?.type).toBe("alert.firing");
    if (event?.type !== "alert.firing") throw new Error("not an alert event");
    expect(event.alert).toMatchObject({ id: 9, state: "firing", site_id: 1, silenced: false });
    expect(event.alert.notifications).toEqual([
      {
        id: 5,
        channel_id: 3,
        transition: "firing",
        at: "2025-11-11T10:31:01Z",
        outcome: "failed",
        attempts: 2,
        error: "HTTP 502",
        history: [],
      },
    ]);
  });

  it("reads each attempt of a notification when the server lists them", () => {
    const history = [
      { at: "2025-11-11T10:31:01Z", outcome: "failed", error: "HTTP 502", duration_ms: 40 },
      { at: "2025-11-11T10:31:03Z", outcome: "sent", error: "" },
    ];
    const event = parseEvent(
      "alert.firing",
      wire({ notifications: [{ channel_id: 3, at: "2025-11-11T10:31:03Z", outcome: "sent", attempts: 2, error: "", history }] }),
    );
    if (event?.type !== "alert.firing") throw new Error("not an alert event");
    // An attempt without its duration (never sent so by the server) reads as 0 ms.
    expect(event.alert.notifications[0]?.history).toEqual([
      { at: "2025-11-11T10:31:01Z", outcome: "failed", error: "HTTP 502", duration_ms: 40 },
      { at: "2025-11-11T10:31:03Z", outcome: "sent", error: "", duration_ms: 0 },
    ]);
  });

  it("ignores an alert event without an id or a known state, or that is not JSON", () => {
    expect(parseEvent("alert.firing", wire({ id: undefined }))).toBeNull();
    expect(parseEvent("alert.resolved", wire({ state: "exploded" }))).toBeNull();
    expect(parseEvent("alert.acknowledged", "{")).toBeNull();
  });
});

const firingEvent = (id: number, overrides = {}): LiveEvent => ({ type: "alert.firing", alert: alert(id, overrides) });
const resolvedEvent = (id: number): LiveEvent => ({
  type: "alert.resolved",
  alert: alert(id, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" }),
});

describe("planEvent for alerts", () => {
  it("edits the alert lists in place, invalidates them, and toasts a firing alert with its message", () => {
    const plan = planEvent(firingEvent(1));
    expect(plan.edits).toEqual([{ kind: "alert", alert: alert(1) }]);
    expect(plan.invalidate).toEqual([queryKeys.alertLists()]);
    expect(toastInEnglish(plan.toast)).toBe("Alert: Site 001: MQTT error — Connection refused, alert 1");
    expect(plan.toast?.tone).toBe("error");
  });

  it("toasts a resolution, but neither an acknowledgement nor a silenced alert", () => {
    expect(toastInEnglish(planEvent(resolvedEvent(1)).toast)).toBe("Resolved: Site 001: MQTT error — Connection refused, alert 1");
    expect(planEvent({ type: "alert.acknowledged", alert: alert(1, { acknowledged_by: "ops" }) }).toast).toBeNull();
    expect(planEvent(firingEvent(2, { silenced: true })).toast).toBeNull();
  });
});

describe("applyEvents for alerts", () => {
  it("moves the header's count at once: two fire, one resolves, in one batch and the next", () => {
    const { client, batcher, notify, toasts } = setup();
    client.setQueryData<AlertsResponse>(queryKeys.alertList(FIRING), { alerts: [] });
    applyEvents(client, batcher, [firingEvent(1), firingEvent(2)], notify);
    expect(firingCount(client.getQueryData(queryKeys.alertList(FIRING)))?.count).toBe(2);
    applyEvents(client, batcher, [resolvedEvent(1)], notify);
    expect(firingCount(client.getQueryData(queryKeys.alertList(FIRING)))?.count).toBe(1);
    expect(toasts.map((t) => t.key)).toEqual(["alertFiring", "alertFiring", "alertResolved"]);
  });

  it("edits every cached list by its own filter: the site's lists and the history", () => {
    const { client, batcher, notify } = setup();
    const siteFiring = queryKeys.alertList({ state: "firing", siteId: 1 });
    const otherSite = queryKeys.alertList({ state: "firing", siteId: 2 });
    const history = queryKeys.alertList({ state: "resolved", siteId: null });
    for (const key of [siteFiring, otherSite, history]) client.setQueryData<AlertsResponse>(key, { alerts: [] });
    applyEvents(client, batcher, [firingEvent(1), resolvedEvent(1)], notify);
    expect(client.getQueryData<AlertsResponse>(siteFiring)?.alerts).toEqual([]);
    expect(client.getQueryData<AlertsResponse>(otherSite)?.alerts).toEqual([]);
    expect(client.getQueryData<AlertsResponse>(history)?.alerts.map((a) => a.state)).toEqual(["resolved"]);
  });

  it("invalidates the alert lists once per batch, not the rules or channels", () => {
    const { client, batcher, notify, scheduler } = setup();
    client.setQueryData<AlertsResponse>(queryKeys.alertList(FIRING), { alerts: [] });
    client.setQueryData(queryKeys.alertRules(), { rules: [] });
    applyEvents(client, batcher, [firingEvent(1), firingEvent(2)], notify);
    scheduler.runAll();
    expect(client.getQueryState(queryKeys.alertList(FIRING))?.isInvalidated).toBe(true);
    expect(client.getQueryState(queryKeys.alertRules())?.isInvalidated).toBe(false);
  });

  it("an acknowledgement updates the alert where it is shown, without moving the count", () => {
    const { client, batcher, notify } = setup();
    client.setQueryData<AlertsResponse>(queryKeys.alertList(FIRING), { alerts: [alert(1)] });
    applyEvents(
      client,
      batcher,
      [{ type: "alert.acknowledged", alert: alert(1, { acknowledged_by: "ops", acknowledged_at: "2025-11-11T10:35:00Z" }) }],
      notify,
    );
    const list = client.getQueryData<AlertsResponse>(queryKeys.alertList(FIRING));
    expect(list?.alerts[0]?.acknowledged_by).toBe("ops");
    expect(firingCount(list)?.count).toBe(1);
  });
});
