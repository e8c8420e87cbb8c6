/**
 * Carries an EventPlan out on a QueryClient: in-place edits at once (so a badge changes the
 * moment its event arrives), invalidations through the batcher, the toast through `notify`.
 */

import type { QueryClient } from "@tanstack/react-query";
import type { LiveEvent } from "../api/events";
import type {
  DataloggerDetail,
  DataloggersResponse,
  GatewaysResponse,
  SitesResponse,
  SiteStatus,
} from "../api/types";
import {
  patchDeviceAvailability,
  patchDeviceInList,
  patchSiteInList,
  patchSiteStatus,
  removeSiteFromList,
} from "./cacheEdits";
import { planEvent, type CacheEdit, type EventPlan, type ToastSpec } from "./eventPlan";
import type { InvalidationBatcher } from "./invalidationBatcher";
import { pendingControls } from "./pendingControls";
import { queryKeys } from "./queryKeys";

/** Longer than a few flushes of the server's storage writer (every 250 ms). */
export const SETTLE_MS = 1000;

export function applyEdit(client: QueryClient, edit: CacheEdit): void {
  switch (edit.kind) {
    case "site-status":
      client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) => patchSiteInList(list, edit.siteId, edit.patch));
      client.setQueryData<SiteStatus>(queryKeys.siteStatus(edit.siteId), (site) => patchSiteStatus(site, edit.patch));
      return;
    case "site-removed":
      client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) => removeSiteFromList(list, edit.siteId));
      return;
    case "datalogger-availability":
      for (const scope of [edit.siteId, null]) {
        client.setQueryData<DataloggersResponse>(queryKeys.dataloggerList(scope), (list) =>
          patchDeviceInList(list, "dataloggers", edit.id, edit.availability),
        );
      }
      client.setQueryData<DataloggerDetail>(queryKeys.datalogger(edit.id), (device) =>
        patchDeviceAvailability(device, edit.availability),
      );
      return;
    case "gateway-availability":
      for (const scope of [edit.siteId, null]) {
        client.setQueryData<GatewaysResponse>(queryKeys.gatewayList(scope), (list) =>
          patchDeviceInList(list, "gateways", edit.id, edit.availability),
        );
      }
      return;
  }
}

/** The cached status of one site, from its own query or else from the sites list. */
export function cachedSite(client: QueryClient, siteId: number): SiteStatus | undefined {
  return (
    client.getQueryData<SiteStatus>(queryKeys.siteStatus(siteId)) ??
    client.getQueryData<SitesResponse>(queryKeys.siteList())?.sites.find((site) => site.site_id === siteId)
  );
}

export function applyEvent(
  client: QueryClient,
  batcher: InvalidationBatcher,
  event: LiveEvent,
  notify: (toast: ToastSpec) => void,
): EventPlan {
  const previous = "site_id" in event ? cachedSite(client, event.site_id) : undefined;
  const plan = planEvent(event, previous);
  // The real status has arrived: an optimistic one no longer needs protecting.
  if (event.type === "site.status") pendingControls(client).clear(event.site_id);
  for (const edit of plan.edits) applyEdit(client, edit);
  if (plan.invalidateAll) batcher.addAll();
  else batcher.add(plan.invalidate);
  batcher.addLater(plan.settle, SETTLE_MS);
  if (plan.toast) notify(plan.toast);
  return plan;
}
