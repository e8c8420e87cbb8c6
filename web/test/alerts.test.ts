import { describe, expect, it } from "vitest";
import type { AlertsResponse } from "../src/api/types";
import {
  activeAlertsOf,
  alertDurationS,
  applyAlertToList,
  FIRING,
  firingCount,
  mergeAlert,
  pageOrder,
} from "../src/data/alerts";
import { alert } from "./fixtures";

const ids = (list: AlertsResponse | undefined) => list?.alerts.map((a) => a.id);

describe("applyAlertToList", () => {
  it("adds a newly firing alert to the firing list, newest first", () => {
    const list: AlertsResponse = { alerts: [alert(1, { started_at: "2025-11-11T10:00:00Z" })] };
    const next = applyAlertToList(list, FIRING, alert(2, { started_at: "2025-11-11T11:00:00Z" }));
    expect(ids(next)).toEqual([2, 1]);
  });

  it("orders by the instant, whether or not the server wrote fractions of a second", () => {
    const list: AlertsResponse = { alerts: [alert(1, { started_at: "2025-11-11T10:00:00Z" })] };
    const next = applyAlertToList(list, FIRING, alert(2, { started_at: "2025-11-11T10:00:00.250000Z" }));
    expect(ids(next)).toEqual([2, 1]);
  });

  it("drops a resolved alert from the firing list and adds it to the resolved one", () => {
    const firing: AlertsResponse = { alerts: [alert(1), alert(2)] };
    const resolved: AlertsResponse = { alerts: [] };
    const done = alert(1, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" });
    expect(ids(applyAlertToList(firing, FIRING, done))).toEqual([2]);
    expect(applyAlertToList(resolved, { state: "resolved", siteId: null }, done)?.alerts).toEqual([done]);
  });

  it("keeps to the list's site: another site's alert does not enter, and leaves nothing changed", () => {
    const list: AlertsResponse = { alerts: [alert(1, { site_id: 1 })] };
    const other = alert(2, { site_id: 2 });
    expect(applyAlertToList(list, { state: null, siteId: 1 }, other)).toBe(list);
    expect(ids(applyAlertToList({ alerts: [] }, { state: null, siteId: 2 }, other))).toEqual([2]);
  });

  it("replaces an alert in place when it is acknowledged", () => {
    const list: AlertsResponse = { alerts: [alert(2), alert(1)] };
    const acked = alert(1, { acknowledged_by: "ops", acknowledged_at: "2025-11-11T10:35:00Z" });
    const next = applyAlertToList(list, FIRING, acked);
    expect(ids(next)).toEqual([2, 1]);
    expect(next?.alerts[1]?.acknowledged_by).toBe("ops");
    expect(next?.alerts[0]).toBe(list.alerts[0]);
  });

  it("returns the same list when the event says what the list already says", () => {
    const list: AlertsResponse = { alerts: [alert(1)] };
    expect(applyAlertToList(list, FIRING, alert(1))).toBe(list);
    expect(applyAlertToList(undefined, FIRING, alert(1))).toBeUndefined();
  });

  it("does not take an alert back: a late firing event after a refetch showed it resolved is ignored", () => {
    const resolved = alert(1, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" });
    const list: AlertsResponse = { alerts: [resolved] };
    expect(applyAlertToList(list, { state: null, siteId: null }, alert(1))).toBe(list);
    // And the firing list does not take it in either.
    expect(applyAlertToList({ alerts: [] }, FIRING, mergeAlert(resolved, alert(1)))?.alerts).toEqual([]);
  });
});

describe("mergeAlert", () => {
  it("keeps an acknowledgement that a later event does not repeat", () => {
    const acked = alert(1, { acknowledged_by: "ops", acknowledged_at: "2025-11-11T10:35:00Z" });
    const resolved = alert(1, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" });
    expect(mergeAlert(acked, resolved)).toMatchObject({ state: "resolved", acknowledged_by: "ops" });
  });

  it("takes an acknowledgement even from an event that is otherwise older", () => {
    const resolved = alert(1, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" });
    const acked = alert(1, { acknowledged_by: "ops", acknowledged_at: "2025-11-11T10:35:00Z" });
    expect(mergeAlert(resolved, acked)).toMatchObject({ state: "resolved", acknowledged_by: "ops" });
  });
});

describe("firingCount", () => {
  it("counts the firing alerts of the list, and says when the list was cut at its limit", () => {
    expect(firingCount(undefined)).toBeNull();
    expect(firingCount({ alerts: [] })).toEqual({ count: 0, more: false });
    expect(firingCount({ alerts: [alert(1), alert(2)] })).toEqual({ count: 2, more: false });
    expect(firingCount({ alerts: [alert(1), alert(2)] }, 2)).toEqual({ count: 2, more: true });
  });

  it("follows events: fire two, resolve one", () => {
    let list: AlertsResponse | undefined = { alerts: [] };
    list = applyAlertToList(list, FIRING, alert(1));
    list = applyAlertToList(list, FIRING, alert(2));
    expect(firingCount(list)?.count).toBe(2);
    list = applyAlertToList(list, FIRING, alert(1, { state: "resolved", resolved_at: "2025-11-11T10:40:00Z" }));
    expect(firingCount(list)?.count).toBe(1);
    // A pending alert is not counted (it never enters the firing list).
    list = applyAlertToList(list, FIRING, alert(3, { state: "pending", fired_at: null }));
    expect(firingCount(list)?.count).toBe(1);
  });
});

describe("pageOrder", () => {
  it("puts firing first, then pending, then resolved; unacknowledged before acknowledged; newest first", () => {
    const alerts = [
      alert(1, { state: "resolved", started_at: "2025-11-11T12:00:00Z" }),
      alert(2, { state: "pending", started_at: "2025-11-11T12:00:00Z" }),
      alert(3, { state: "firing", started_at: "2025-11-11T09:00:00Z" }),
      alert(4, { state: "firing", started_at: "2025-11-11T11:00:00Z", acknowledged_at: "2025-11-11T11:05:00Z" }),
      alert(5, { state: "firing", started_at: "2025-11-11T10:00:00Z" }),
    ];
    expect(pageOrder(alerts).map((a) => a.id)).toEqual([5, 3, 4, 2, 1]);
  });
});

describe("alertDurationS", () => {
  it("ticks with now while the alert lasts and stops at its end", () => {
    const lasting = alert(1, { started_at: "2025-11-11T10:30:00Z" });
    expect(alertDurationS(lasting, Date.parse("2025-11-11T10:35:20Z"))).toBe(320);
    expect(alertDurationS(lasting, Date.parse("2025-11-11T10:35:21Z"))).toBe(321);
    const over = alert(2, { state: "resolved", started_at: "2025-11-11T10:30:00Z", resolved_at: "2025-11-11T10:32:00Z" });
    expect(alertDurationS(over, Date.parse("2025-11-11T12:00:00Z"))).toBe(120);
  });
});

describe("activeAlertsOf", () => {
  it("gives a site's lasting alerts, or only a device's", () => {
    const alerts = [
      alert(1, { site_id: 1 }),
      alert(2, { site_id: 1, kind: "device_offline", device_id: 7, state: "pending" }),
      alert(3, { site_id: 1, state: "resolved" }),
      alert(4, { site_id: 2 }),
    ];
    expect(activeAlertsOf(alerts, { siteId: 1 }).map((a) => a.id)).toEqual([1, 2]);
    expect(activeAlertsOf(alerts, { siteId: 1, deviceId: 7 }).map((a) => a.id)).toEqual([2]);
  });
});
