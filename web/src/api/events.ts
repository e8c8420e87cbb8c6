/**
 * The Server-Sent Events of GET /api/v1/events, as a closed union, and the one function that
 * turns a raw (type, data) pair from the stream into it.
 *
 * Parsing is defensive: a message that does not carry what its type needs becomes null and is
 * ignored, so one odd event can never break the dashboard.
 */

import { ALERT_EVENT_TYPES, parseAlertEvent, type AlertEvent, type AlertEventType } from "./alertEvents";
import type { Availability, CommandOutcome, ConnectionStatus, DeviceKind } from "./types";

export const EVENT_TYPES = [
  "site.status",
  "site.changed",
  "device.discovered",
  "device.online",
  "device.offline",
  "command.published",
  ...ALERT_EVENT_TYPES,
  "cluster.changed",
  "reset",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface SiteStatusEvent {
  type: "site.status";
  site_id: number;
  status: ConnectionStatus;
  is_enabled: boolean;
  error_message: string;
  retry_count: number;
  next_retry_at: string | null;
  at: string;
}

export interface SiteChangedEvent {
  type: "site.changed";
  site_id: number;
  /** "created", "updated" or "deleted"; anything else is treated as "updated". */
  change: string;
}

export interface DeviceEvent {
  type: "device.discovered" | "device.online" | "device.offline";
  site_id: number;
  /** Which of `datalogger_id` / `gateway_id` the event carried. */
  kind: DeviceKind;
  /** Null for a device so new that storage has not given it an id yet. */
  id: number | null;
  serial_number: string;
  availability: Availability | null;
  reason: string;
  at: string;
}

export interface CommandPublishedEvent {
  type: "command.published";
  site_id: number;
  command_id: string;
  outcome: CommandOutcome | null;
  error: string;
}

/**
 * An instance joined or left the cluster, or sites moved between instances: `change` is
 * "joined", "left" or "sites_moved"; `gained` and `released` are the sites the instance took
 * or let go of (empty when the event names none).
 */
export interface ClusterChangedEvent {
  type: "cluster.changed";
  change: string;
  instance_id: string;
  gained: number[];
  released: number[];
  at: string;
}

export interface ResetEvent {
  type: "reset";
}

export type LiveEvent =
  | SiteStatusEvent
  | SiteChangedEvent
  | DeviceEvent
  | CommandPublishedEvent
  | AlertEvent
  | ClusterChangedEvent
  | ResetEvent;

type Json = Record<string, unknown>;

const STATUSES: readonly string[] = ["connecting", "connected", "disconnected", "error", "disabled"];
const AVAILABILITY: readonly string[] = ["online", "offline", "unreachable", "unknown"];
const OUTCOMES: readonly string[] = ["sent", "acked", "failed"];

function str(v: unknown, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

function int(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

function ids(list: unknown): number[] {
  return Array.isArray(list) ? list.filter((v): v is number => int(v) !== null) : [];
}

function parseData(data: string): Json | null {
  if (data === "") return {};
  try {
    const value: unknown = JSON.parse(data);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

/** Turns one SSE message into a LiveEvent, or null when it is not one we act on. */
export function parseEvent(type: string, data: string): LiveEvent | null {
  if (type === "reset") return { type: "reset" };
  const d = parseData(data);
  if (d === null) return null;
  const siteId = int(d.site_id);
  switch (type) {
    case "site.status": {
      const status = str(d.status);
      if (siteId === null || !STATUSES.includes(status)) return null;
      return {
        type,
        site_id: siteId,
        status: status as ConnectionStatus,
        is_enabled: d.is_enabled === true,
        error_message: str(d.error_message),
        retry_count: int(d.retry_count) ?? 0,
        next_retry_at: typeof d.next_retry_at === "string" ? d.next_retry_at : null,
        at: str(d.at),
      };
    }
    case "site.changed":
      if (siteId === null) return null;
      return { type, site_id: siteId, change: str(d.change, "updated") };
    case "device.discovered":
    case "device.online":
    case "device.offline": {
      if (siteId === null) return null;
      const kind: DeviceKind = "gateway_id" in d ? "gateway" : "datalogger";
      const availability = str(d.availability);
      return {
        type,
        site_id: siteId,
        kind,
        id: int(kind === "gateway" ? d.gateway_id : d.datalogger_id),
        serial_number: str(d.serial_number),
        availability: AVAILABILITY.includes(availability) ? (availability as Availability) : null,
        reason: str(d.reason),
        at: str(d.at),
      };
    }
    case "command.published": {
      if (siteId === null) return null;
      const outcome = str(d.outcome);
      return {
        type,
        site_id: siteId,
        command_id: typeof d.command_id === "number" ? String(d.command_id) : str(d.command_id),
        outcome: OUTCOMES.includes(outcome) ? (outcome as CommandOutcome) : null,
        error: str(d.error),
      };
    }
    case "alert.firing":
    case "alert.resolved":
    case "alert.acknowledged":
      return parseAlertEvent(type satisfies AlertEventType, d);
    case "cluster.changed":
      return {
        type,
        change: str(d.change),
        instance_id: str(d.instance_id),
        gained: ids(d.gained),
        released: ids(d.released),
        at: str(d.at),
      };
    default:
      return null;
  }
}
