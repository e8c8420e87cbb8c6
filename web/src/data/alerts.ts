/**
 * What the dashboard decides about alerts, as pure functions (test/alerts.test.ts): how a
 * live alert event edits a cached list, the order of the Alerts page, the firing count of the
 * header, how long an alert has lasted, which alerts a site or a device has.
 */

import type { Alert, AlertFilter, AlertsResponse, AlertState } from "../api/types";

/** How many alerts one list asks for. The header's count says "500+" beyond it. */
export const ALERT_LIST_LIMIT = 500;

/** The list behind the header's count: every firing alert. */
export const FIRING: AlertFilter = { state: "firing", siteId: null };

const RANK: Record<AlertState, number> = { pending: 0, firing: 1, resolved: 2 };

export function matchesFilter(alert: Alert, filter: AlertFilter): boolean {
  return (filter.state === null || alert.state === filter.state) && (filter.siteId === null || alert.site_id === filter.siteId);
}

/**
 * Newest first, as the server lists them: by start, then by id. Times are compared as
 * instants, not as text: the server writes fractions of a second only when there are some.
 */
function newestFirst(a: Alert, b: Alert): number {
  return (Date.parse(b.started_at) || 0) - (Date.parse(a.started_at) || 0) || b.id - a.id;
}

/**
 * The alert as it stands after `incoming`, or `cached` when `incoming` is older news. An alert
 * only moves forward (pending → firing → resolved); an event that arrives after a refetch
 * already showed a later state must not take it back. Acknowledgement is kept once seen.
 */
export function mergeAlert(cached: Alert | undefined, incoming: Alert): Alert {
  if (cached === undefined) return incoming;
  if (RANK[incoming.state] < RANK[cached.state]) {
    if (incoming.acknowledged_at !== null && cached.acknowledged_at === null) {
      return { ...cached, acknowledged_at: incoming.acknowledged_at, acknowledged_by: incoming.acknowledged_by };
    }
    return cached;
  }
  if (incoming.acknowledged_at === null && cached.acknowledged_at !== null) {
    return { ...incoming, acknowledged_at: cached.acknowledged_at, acknowledged_by: cached.acknowledged_by };
  }
  return incoming;
}

function sameAlert(a: Alert, b: Alert): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * One cached list after one alert event: the alert is added, replaced or dropped as it now
 * does or does not match the list's filter (a resolved alert leaves the firing list). Returns
 * the list itself when nothing changes.
 */
export function applyAlertToList(
  list: AlertsResponse | undefined,
  filter: AlertFilter,
  incoming: Alert,
): AlertsResponse | undefined {
  if (list === undefined) return list;
  const index = list.alerts.findIndex((a) => a.id === incoming.id);
  const cached = list.alerts[index];
  const alert = mergeAlert(cached, incoming);
  if (!matchesFilter(alert, filter)) {
    return cached === undefined ? list : { ...list, alerts: list.alerts.filter((a) => a.id !== alert.id) };
  }
  if (cached !== undefined) {
    if (sameAlert(cached, alert)) return list;
    const alerts = list.alerts.slice();
    alerts[index] = alert;
    return { ...list, alerts };
  }
  const alerts = [...list.alerts, alert].sort(newestFirst);
  return { ...list, alerts };
}

/** The Alerts page's order: firing, then pending, then resolved; unacknowledged first; newest first. */
export function pageOrder(alerts: readonly Alert[]): Alert[] {
  const state: Record<AlertState, number> = { firing: 0, pending: 1, resolved: 2 };
  return [...alerts].sort(
    (a, b) =>
      state[a.state] - state[b.state] ||
      Number(a.acknowledged_at !== null) - Number(b.acknowledged_at !== null) ||
      newestFirst(a, b),
  );
}

export interface FiringCount {
  count: number;
  /** The list was cut at its limit: there may be more. */
  more: boolean;
}

export function firingCount(list: AlertsResponse | undefined, limit = ALERT_LIST_LIMIT): FiringCount | null {
  if (list === undefined) return null;
  const count = list.alerts.filter((a) => a.state === "firing").length;
  return { count, more: list.alerts.length >= limit };
}

/** Seconds the alert has lasted: from its start to its end, or to now while it lasts. */
export function alertDurationS(alert: Alert, nowMs: number): number {
  const start = Date.parse(alert.started_at);
  const end = alert.resolved_at ? Date.parse(alert.resolved_at) : nowMs;
  return Number.isNaN(start) || Number.isNaN(end) ? 0 : Math.max(0, (end - start) / 1000);
}

export interface Subject {
  siteId: number;
  /** A datalogger: only its own alerts. Undefined: every alert of the site. */
  deviceId?: number;
}

/** The alerts of a site or a device that still last (pending or firing), firing first. */
export function activeAlertsOf(alerts: readonly Alert[], subject: Subject): Alert[] {
  return pageOrder(
    alerts.filter(
      (a) =>
        a.state !== "resolved" &&
        a.site_id === subject.siteId &&
        (subject.deviceId === undefined || a.device_id === subject.deviceId),
    ),
  );
}
