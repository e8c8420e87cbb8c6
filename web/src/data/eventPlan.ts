/**
 * What one live event means for the cache: which cached answers to edit in place right now,
 * which queries to invalidate, and which toast to show. Pure: it reads nothing but its
 * arguments, so every rule here is tested without a browser (test/eventPlan.test.ts).
 */

import type { LiveEvent, SiteStatusEvent } from "../api/events";
import type { Alert, Availability, SiteStatus } from "../api/types";
import type { SiteStatusPatch } from "./cacheEdits";
import { queryKeys, type QueryKey } from "./queryKeys";

export type CacheEdit =
  | { kind: "site-status"; siteId: number; patch: SiteStatusPatch }
  | { kind: "site-removed"; siteId: number }
  | { kind: "datalogger-availability"; siteId: number; id: number; availability: Availability }
  | { kind: "gateway-availability"; siteId: number; id: number; availability: Availability }
  /** The site's link went down: its online devices are unreachable now, as the server says. */
  | { kind: "site-devices-unreachable"; siteId: number }
  /** An alert changed: every cached alerts list takes it in (or lets it go) by its filter. */
  | { kind: "alert"; alert: Alert };

export type ToastTone = "success" | "info" | "warning" | "error";

/**
 * A toast, as words to translate when it is shown: `key` is a message key under `toast.`,
 * `params` its values (a `status` or `action` value is itself translated). A toast about a
 * site carries `siteId` and is named one way everywhere, "name (code)", from the cache at the
 * time it is drawn.
 */
export interface ToastSpec {
  tone: ToastTone;
  key: ToastKey;
  params?: Record<string, string | number>;
  siteId?: number;
}

export type ToastKey =
  | "status"
  | "statusError"
  | "command"
  | "commandError"
  | "control"
  | "controlFailed"
  | "published"
  | "siteCreated"
  | "siteSaved"
  | "siteDeleted"
  | "deviceSaved"
  | "bulk"
  | "alertFiring"
  | "alertResolved";

export interface EventPlan {
  edits: CacheEdit[];
  invalidate: QueryKey[];
  /**
   * Invalidated once more a little later. Device rows are read from storage, which the
   * server's writer updates up to one flush after the event: a refetch made at once can
   * still miss what the event announced (a new device, its first `online`).
   */
  settle: QueryKey[];
  invalidateAll: boolean;
  toast: ToastSpec | null;
}

/** Statuses worth a toast: the ends of a transition, not the transient states in between. */
const TOASTED: Record<SiteStatus["status"], ToastTone | null> = {
  connected: "success",
  error: "error",
  disconnected: "info",
  connecting: null,
  disabled: null,
};

export function siteStatusPatch(event: SiteStatusEvent): SiteStatusPatch {
  return {
    status: event.status,
    is_enabled: event.is_enabled,
    error_message: event.error_message,
    retry_count: event.retry_count,
    next_retry_at: event.next_retry_at,
  };
}

function statusToast(event: SiteStatusEvent, previous: SiteStatus | undefined): ToastSpec | null {
  const tone = TOASTED[event.status];
  if (tone === null || previous?.status === event.status) return null;
  if (event.status === "error" && event.error_message) {
    return { tone, key: "statusError", params: { status: event.status, error: event.error_message }, siteId: event.site_id };
  }
  return { tone, key: "status", params: { status: event.status }, siteId: event.site_id };
}

/**
 * The site's link came up or went down. Its devices turn `unreachable` (or back) with it, and
 * the stream announces no device event for that, so their lists must be fetched again.
 */
function linkChanged(event: SiteStatusEvent, previous: SiteStatus | undefined): boolean {
  if (previous === undefined || previous.status === event.status) return previous === undefined;
  // A retry loop (error ↔ connecting) keeps the link down throughout: nothing to refetch.
  // Any other change may be one: the cached status can be an optimistic one ("disabled"
  // after Stop) that hides the connected → disconnected the server went through.
  return !(RETRYING.has(previous.status) && RETRYING.has(event.status));
}

const RETRYING: ReadonlySet<SiteStatus["status"]> = new Set(["error", "connecting"]);

function deviceListsOf(siteId: number): QueryKey[] {
  return [
    queryKeys.dataloggerList(siteId),
    queryKeys.dataloggerList(null),
    queryKeys.gatewayList(siteId),
    queryKeys.gatewayList(null),
  ];
}

const nothing = (): EventPlan => ({ edits: [], invalidate: [], settle: [], invalidateAll: false, toast: null });

/**
 * @param previous the cached status of the event's site before this event, if any; it names
 *   the site in toasts and tells a real change from a repeat.
 */
export function planEvent(event: LiveEvent, previous?: SiteStatus): EventPlan {
  const plan = nothing();
  switch (event.type) {
    case "reset":
      plan.invalidateAll = true;
      return plan;
    case "site.status":
      plan.edits.push({ kind: "site-status", siteId: event.site_id, patch: siteStatusPatch(event) });
      plan.invalidate.push(
        queryKeys.siteList(),
        queryKeys.siteStatus(event.site_id),
        queryKeys.siteHistory(event.site_id),
        queryKeys.actors(),
      );
      // Whatever the cache said before: a site that is not connected has its link down, and
      // the server has made its devices unreachable (a no-op for devices that already are).
      if (event.status !== "connected") plan.edits.push({ kind: "site-devices-unreachable", siteId: event.site_id });
      if (linkChanged(event, previous)) {
        plan.invalidate.push(...deviceListsOf(event.site_id));
        // Storage records the devices' new availability a flush later: ask once more then.
        plan.settle.push(...deviceListsOf(event.site_id));
      }
      plan.toast = statusToast(event, previous);
      return plan;
    case "site.changed":
      plan.invalidate.push(queryKeys.siteList(), queryKeys.site(event.site_id), queryKeys.actors());
      if (event.change === "deleted") {
        plan.edits.push({ kind: "site-removed", siteId: event.site_id });
        plan.invalidate.push(...deviceListsOf(event.site_id));
      }
      return plan;
    case "device.discovered":
    case "device.online":
    case "device.offline": {
      const datalogger = event.kind === "datalogger";
      if (event.id !== null && event.availability !== null) {
        plan.edits.push({
          kind: datalogger ? "datalogger-availability" : "gateway-availability",
          siteId: event.site_id,
          id: event.id,
          availability: event.availability,
        });
      }
      const keys: QueryKey[] = datalogger
        ? [queryKeys.dataloggerList(event.site_id), queryKeys.dataloggerList(null)]
        : [queryKeys.gatewayList(event.site_id), queryKeys.gatewayList(null)];
      if (datalogger && event.id !== null) keys.push(queryKeys.datalogger(event.id), queryKeys.sensorsOf(event.id));
      plan.invalidate.push(...keys, queryKeys.actors());
      plan.settle.push(...keys);
      return plan;
    }
    case "command.published":
      plan.invalidate.push(queryKeys.siteCommands(event.site_id));
      if (event.outcome !== null) {
        const tone: ToastTone = event.outcome === "failed" ? "error" : event.outcome === "acked" ? "success" : "info";
        plan.toast = event.error
          ? { tone, key: "commandError", params: { outcome: event.outcome, error: event.error }, siteId: event.site_id }
          : { tone, key: "command", params: { outcome: event.outcome }, siteId: event.site_id };
      }
      return plan;
    case "alert.firing":
    case "alert.resolved":
    case "alert.acknowledged":
      plan.edits.push({ kind: "alert", alert: event.alert });
      // The event carries the alert, so the edit is the news; the refetch confirms it (and
      // brings notification attempts made since).
      plan.invalidate.push(queryKeys.alertLists());
      // A silenced alert is shown, not announced (API.md): no toast for it either.
      if (!event.alert.silenced && event.type !== "alert.acknowledged") {
        const firing = event.type === "alert.firing";
        plan.toast = {
          tone: firing ? "error" : "success",
          key: firing ? "alertFiring" : "alertResolved",
          params: { message: event.alert.message || event.alert.kind },
        };
      }
      return plan;
    case "cluster.changed":
      // Who runs which site changed: the cluster, each moved site's `owner`, the actor tree.
      plan.invalidate.push(
        queryKeys.cluster(),
        queryKeys.siteList(),
        ...[...event.gained, ...event.released].map((siteId) => queryKeys.siteStatus(siteId)),
        queryKeys.actors(),
      );
      return plan;
  }
}
