/**
 * The alert events of the stream (`alert.firing`, `alert.resolved`, `alert.acknowledged`,
 * data: the alert, API.md) and the defensive reading of their data: an alert without an id or
 * a known state is not one, and becomes null.
 */

import {
  ALERT_STATES,
  RULE_KINDS,
  type Alert,
  type AlertNotification,
  type AlertState,
  type NotificationAttempt,
  type RuleKind,
} from "./types";

export const ALERT_EVENT_TYPES = ["alert.firing", "alert.resolved", "alert.acknowledged"] as const;

export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

export interface AlertEvent {
  type: AlertEventType;
  alert: Alert;
}

type Json = Record<string, unknown>;

function int(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

function str(v: unknown, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

function time(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function notification(v: unknown): AlertNotification | null {
  if (v === null || typeof v !== "object") return null;
  const n = v as Json;
  const channelId = int(n.channel_id);
  if (channelId === null) return null;
  const parsed: AlertNotification = {
    id: int(n.id) ?? 0,
    channel_id: channelId,
    transition: str(n.transition),
    at: str(n.at),
    outcome: str(n.outcome),
    attempts: int(n.attempts) ?? 0,
    error: str(n.error),
    history: [],
  };
  if (Array.isArray(n.history)) {
    parsed.history = n.history
      .filter((a): a is Json => a !== null && typeof a === "object")
      .map(
        (a): NotificationAttempt => ({
          at: str(a.at),
          outcome: str(a.outcome),
          error: str(a.error),
          duration_ms: int(a.duration_ms) ?? 0,
        }),
      );
  }
  return parsed;
}

/** An alert from JSON, or null when it lacks what the dashboard needs (id, state, start). */
export function parseAlert(v: unknown): Alert | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const d = v as Json;
  const id = int(d.id);
  const state = str(d.state);
  const startedAt = time(d.started_at);
  if (id === null || !ALERT_STATES.includes(state as AlertState) || startedAt === null) return null;
  const kind = str(d.kind);
  const notifications = Array.isArray(d.notifications) ? d.notifications.map(notification) : [];
  return {
    id,
    rule_id: int(d.rule_id),
    // A kind added to the server later still shows, by its own name.
    kind: (RULE_KINDS.includes(kind as RuleKind) ? kind : kind || "site_down") as RuleKind,
    state: state as AlertState,
    site_id: int(d.site_id),
    device_id: int(d.device_id),
    sensor_id: int(d.sensor_id),
    message: str(d.message),
    started_at: startedAt,
    fired_at: time(d.fired_at),
    resolved_at: time(d.resolved_at),
    acknowledged_by: typeof d.acknowledged_by === "string" ? d.acknowledged_by : null,
    acknowledged_at: time(d.acknowledged_at),
    silenced: d.silenced === true,
    notifications: notifications.filter((n): n is AlertNotification => n !== null),
  };
}

export function parseAlertEvent(type: AlertEventType, data: Json): AlertEvent | null {
  // "data: the alert"; an envelope {"alert": {...}} is read too.
  const alert = parseAlert("alert" in data && typeof data.alert === "object" ? data.alert : data);
  return alert === null ? null : { type, alert };
}
