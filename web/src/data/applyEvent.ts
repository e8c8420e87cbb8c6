/**
 * Carries EventPlans out on a QueryClient: in-place edits at once (so a badge changes the
 * moment its event arrives), invalidations through the batcher, toasts through `notify`.
 *
 * Events are applied in batches. A broker outage brings a site.status per site and a device
 * event per device within a second; the edits of a batch are merged first, so each cached
 * list is copied once per batch rather than once per event.
 */

import type { QueryClient } from "@tanstack/react-query";
import type { LiveEvent } from "../api/events";
import type {
  Alert,
  AlertFilter,
  AlertsResponse,
  Availability,
  DataloggerDetail,
  DataloggersResponse,
  GatewaysResponse,
  SitesResponse,
  SiteStatus,
} from "../api/types";
import {
  patchDeviceAvailability,
  patchDevicesInList,
  patchSitesInList,
  patchSiteStatus,
  type SiteStatusPatch,
} from "./cacheEdits";
import { applyAlertToList } from "./alerts";
import { planEvent, type CacheEdit, type ToastSpec } from "./eventPlan";
import type { InvalidationBatcher } from "./invalidationBatcher";
import { pendingControls } from "./pendingControls";
import { queryKeys, type ListScope, type QueryKey } from "./queryKeys";

/** Longer than a few flushes of the server's storage writer (every 250 ms). */
export const SETTLE_MS = 1000;

/** The edits of a batch of events, merged: the last word on each site and device wins. */
export interface MergedEdits {
  sites: Map<number, SiteStatusPatch>;
  removedSites: Set<number>;
  dataloggers: Map<number, { siteId: number; availability: Availability }>;
  gateways: Map<number, { siteId: number; availability: Availability }>;
  /** Sites whose link went down in this batch (and did not come back within it). */
  unreachableSites: Set<number>;
  /** Alerts as the batch's events told them, in order (a later word on one alert wins). */
  alerts: Alert[];
}

export function mergeEdits(edits: readonly CacheEdit[]): MergedEdits {
  const merged: MergedEdits = { sites: new Map(), removedSites: new Set(), dataloggers: new Map(), gateways: new Map(), unreachableSites: new Set(), alerts: [] };
  for (const edit of edits) {
    switch (edit.kind) {
      case "site-status":
        merged.sites.set(edit.siteId, { ...merged.sites.get(edit.siteId), ...edit.patch });
        if (edit.patch.status === "connected") merged.unreachableSites.delete(edit.siteId);
        break;
      case "site-devices-unreachable":
        merged.unreachableSites.add(edit.siteId);
        break;
      case "site-removed":
        merged.removedSites.add(edit.siteId);
        merged.sites.delete(edit.siteId);
        break;
      case "datalogger-availability":
        merged.dataloggers.set(edit.id, { siteId: edit.siteId, availability: edit.availability });
        break;
      case "gateway-availability":
        merged.gateways.set(edit.id, { siteId: edit.siteId, availability: edit.availability });
        break;
      case "alert":
        merged.alerts.push(edit.alert);
        break;
    }
  }
  return merged;
}

/** Availability by device id, for the fleet list (`null`) and for each site's list. */
function byScope(devices: MergedEdits["dataloggers"]): Map<number | null, Map<number, Availability>> {
  const scopes = new Map<number | null, Map<number, Availability>>([[null, new Map()]]);
  for (const [id, { siteId, availability }] of devices) {
    scopes.get(null)?.set(id, availability);
    let site = scopes.get(siteId);
    if (site === undefined) {
      site = new Map();
      scopes.set(siteId, site);
    }
    site.set(id, availability);
  }
  return scopes;
}

/**
 * Writes merged edits into the cache. It walks the cached queries of each family rather than
 * the edits, so its cost follows what the dashboard holds (a few lists and details), not the
 * size of the burst (twenty thousand device events).
 */
export function applyMergedEdits(client: QueryClient, merged: MergedEdits): void {
  const cache = client.getQueryCache();
  if (merged.unreachableSites.size > 0) markUnreachable(client, merged.unreachableSites);
  client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) =>
    patchSitesInList(list, merged.sites, merged.removedSites),
  );
  if (merged.sites.size > 0) {
    for (const { queryKey } of cache.findAll({ queryKey: queryKeys.sites() })) {
      const [, siteId, part] = queryKey;
      const patch = typeof siteId === "number" && part === "status" ? merged.sites.get(siteId) : undefined;
      if (patch) client.setQueryData<SiteStatus>(queryKey, (site) => patchSiteStatus(site, patch));
    }
  }
  if (merged.dataloggers.size > 0) {
    const scopes = byScope(merged.dataloggers);
    for (const { queryKey } of cache.findAll({ queryKey: queryKeys.dataloggerLists() })) {
      const availability = scopes.get((queryKey[2] as ListScope).siteId);
      if (availability) {
        client.setQueryData<DataloggersResponse>(queryKey, (list) => patchDevicesInList(list, "dataloggers", availability));
      }
    }
    for (const { queryKey } of cache.findAll({ queryKey: queryKeys.dataloggerDetails() })) {
      const edit = merged.dataloggers.get(queryKey[2] as number);
      if (edit) client.setQueryData<DataloggerDetail>(queryKey, (device) => patchDeviceAvailability(device, edit.availability));
    }
  }
  if (merged.alerts.length > 0) {
    for (const { queryKey } of cache.findAll({ queryKey: queryKeys.alertLists() })) {
      const filter = queryKey[2] as AlertFilter;
      client.setQueryData<AlertsResponse>(queryKey, (list) =>
        merged.alerts.reduce((current, alert) => applyAlertToList(current, filter, alert), list),
      );
    }
  }
  if (merged.gateways.size > 0) {
    const scopes = byScope(merged.gateways);
    for (const { queryKey } of cache.findAll({ queryKey: queryKeys.gatewayLists() })) {
      const availability = scopes.get((queryKey[2] as ListScope).siteId);
      if (availability) {
        client.setQueryData<GatewaysResponse>(queryKey, (list) => patchDevicesInList(list, "gateways", availability));
      }
    }
  }
}

/**
 * Every cached device of the given sites turns `unreachable`, as the server turns them when
 * the site's link goes down; the refetch that follows (and its settle) confirms it.
 */
function markUnreachable(client: QueryClient, sites: ReadonlySet<number>): void {
  const cache = client.getQueryCache();
  const down = <T extends { site_id: number; availability: Availability; is_online: boolean }>(device: T): T =>
    sites.has(device.site_id) && device.availability !== "unreachable"
      ? { ...device, availability: "unreachable", is_online: false }
      : device;
  // A list in which nothing changes stays the same object (no re-render during retry loops).
  const downAll = <T extends { site_id: number; availability: Availability; is_online: boolean }>(list: T[]): T[] => {
    const next = list.map(down);
    return next.some((device, index) => device !== list[index]) ? next : list;
  };
  for (const { queryKey } of cache.findAll({ queryKey: queryKeys.dataloggerLists() })) {
    const scope = (queryKey[2] as ListScope).siteId;
    if (scope !== null && !sites.has(scope)) continue;
    client.setQueryData<DataloggersResponse>(queryKey, (list) => {
      if (list === undefined) return list;
      const dataloggers = downAll(list.dataloggers);
      return dataloggers === list.dataloggers ? list : { ...list, dataloggers };
    });
  }
  for (const { queryKey } of cache.findAll({ queryKey: queryKeys.gatewayLists() })) {
    const scope = (queryKey[2] as ListScope).siteId;
    if (scope !== null && !sites.has(scope)) continue;
    client.setQueryData<GatewaysResponse>(queryKey, (list) => {
      if (list === undefined) return list;
      const gateways = downAll(list.gateways);
      return gateways === list.gateways ? list : { ...list, gateways };
    });
  }
  for (const { queryKey } of cache.findAll({ queryKey: queryKeys.dataloggerDetails() })) {
    client.setQueryData<DataloggerDetail>(queryKey, (device) => device && down(device));
  }
}

/** The cached status of one site, from its own query or else from the sites list. */
export function cachedSite(client: QueryClient, siteId: number): SiteStatus | undefined {
  return (
    client.getQueryData<SiteStatus>(queryKeys.siteStatus(siteId)) ??
    client.getQueryData<SitesResponse>(queryKeys.siteList())?.sites.find((site) => site.site_id === siteId)
  );
}

/** Applies a batch of events, in order, as one set of edits and one set of invalidations. */
export function applyEvents(
  client: QueryClient,
  batcher: InvalidationBatcher,
  events: readonly LiveEvent[],
  notify: (toast: ToastSpec) => void,
): void {
  // What the cache says of each site before this batch, read once: a getQueryData per event
  // costs a key hash each, which a burst of twenty thousand events makes noticeable.
  const known = new Map<number, SiteStatus>(
    (client.getQueryData<SitesResponse>(queryKeys.siteList())?.sites ?? []).map((site) => [site.site_id, site]),
  );
  for (const query of client.getQueryCache().findAll({ queryKey: queryKeys.sites() })) {
    const [, siteId, part] = query.queryKey;
    const data = query.state.data as SiteStatus | undefined;
    if (typeof siteId === "number" && part === "status" && data !== undefined) known.set(siteId, data);
  }
  // Updated as the batch is planned, so that a repeat within it is not toasted twice.
  const previousOf = (siteId: number): SiteStatus | undefined => known.get(siteId);

  const edits: CacheEdit[] = [];
  const invalidate: QueryKey[] = [];
  const settle: QueryKey[] = [];
  let invalidateAll = false;
  for (const event of events) {
    const previous = "site_id" in event ? previousOf(event.site_id) : undefined;
    const plan = planEvent(event, previous);
    if (event.type === "site.status") {
      // The real status has arrived: an optimistic one no longer needs protecting.
      pendingControls(client).clear(event.site_id);
      if (previous) known.set(event.site_id, { ...previous, status: event.status });
    }
    edits.push(...plan.edits);
    invalidate.push(...plan.invalidate);
    settle.push(...plan.settle);
    invalidateAll ||= plan.invalidateAll;
    if (plan.toast) notify(plan.toast);
  }
  applyMergedEdits(client, mergeEdits(edits));
  if (invalidateAll) batcher.addAll();
  else batcher.add(invalidate);
  batcher.addLater(settle, SETTLE_MS);
}

/** One event on its own: `applyEvents` with a batch of one. */
export function applyEvent(
  client: QueryClient,
  batcher: InvalidationBatcher,
  event: LiveEvent,
  notify: (toast: ToastSpec) => void,
): void {
  applyEvents(client, batcher, [event], notify);
}
