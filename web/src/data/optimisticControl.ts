/**
 * Optimistic start and stop, as the replaced UI did them: on click the badge goes at once to
 * "Connecting..." (start) or "Disconnecting..." (stop) and stays there until the real
 * `site.status` event overwrites it; if the request fails, the badge goes back.
 *
 * Only the fields that were changed are restored on rollback, and only if nothing has changed
 * them since, so a rollback never hides a real event that arrived in between. Until then the
 * site is pending (data/pendingControls.ts), so no refetch can undo the optimistic badge.
 */

import type { QueryClient } from "@tanstack/react-query";
import type { ControlAction } from "../api/endpoints";
import type { SitesResponse, SiteStatus } from "../api/types";
import { patchSiteInList, patchSiteStatus, type SiteStatusPatch } from "./cacheEdits";
import { cachedSite } from "./applyEvent";
import { pendingControls } from "./pendingControls";
import { queryKeys } from "./queryKeys";

export type OptimisticPatch = Required<Pick<SiteStatusPatch, "status" | "is_enabled">>;

/** What the badge shows the moment the admin clicks; null for actions shown only by a spinner. */
export function optimisticPatch(action: ControlAction): OptimisticPatch | null {
  switch (action) {
    case "start":
      return { status: "connecting", is_enabled: true };
    case "stop":
      return { status: "disabled", is_enabled: false };
    case "reconnect":
      return null;
  }
}

export interface OptimisticSnapshot {
  siteId: number;
  applied: OptimisticPatch;
  previous: OptimisticPatch;
}

/**
 * Applies the optimistic patch of `action` to the sites list and the site's status query.
 * Cancels their in-flight fetches first so that an older answer cannot land on top of it.
 */
export async function applyOptimistic(
  client: QueryClient,
  siteId: number,
  action: ControlAction,
): Promise<OptimisticSnapshot | null> {
  const applied = optimisticPatch(action);
  if (applied === null) return null;
  await Promise.all([
    client.cancelQueries({ queryKey: queryKeys.siteList(), exact: true }),
    client.cancelQueries({ queryKey: queryKeys.siteStatus(siteId), exact: true }),
  ]);
  const site = cachedSite(client, siteId);
  if (site === undefined) return null;
  const previous: OptimisticPatch = { status: site.status, is_enabled: site.is_enabled };
  pendingControls(client).set(siteId, applied);
  writeSite(client, siteId, applied);
  return { siteId, applied, previous };
}

/** Undoes `snapshot` where the cache still shows what it applied. */
export function rollbackOptimistic(client: QueryClient, snapshot: OptimisticSnapshot): void {
  pendingControls(client).clear(snapshot.siteId);
  const stillOptimistic = (site: SiteStatus | undefined): boolean =>
    site !== undefined && site.status === snapshot.applied.status && site.is_enabled === snapshot.applied.is_enabled;
  client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) => {
    const site = list?.sites.find((s) => s.site_id === snapshot.siteId);
    return stillOptimistic(site) ? patchSiteInList(list, snapshot.siteId, snapshot.previous) : list;
  });
  client.setQueryData<SiteStatus>(queryKeys.siteStatus(snapshot.siteId), (site) =>
    stillOptimistic(site) ? patchSiteStatus(site, snapshot.previous) : site,
  );
}

function writeSite(client: QueryClient, siteId: number, patch: SiteStatusPatch): void {
  client.setQueryData<SitesResponse>(queryKeys.siteList(), (list) => patchSiteInList(list, siteId, patch));
  client.setQueryData<SiteStatus>(queryKeys.siteStatus(siteId), (site) => patchSiteStatus(site, patch));
}
