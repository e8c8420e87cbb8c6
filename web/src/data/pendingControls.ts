/**
 * Start/stop requests whose real `site.status` event has not arrived yet.
 *
 * The optimistic badge is written into the cache, but a refetch that was answered a moment
 * before the server acted would write the old status back over it. So the status queries
 * pass every answer through `overlay`, which keeps the optimistic status of each pending
 * site until that site's next `site.status` event (or an error, or a time-out) clears it.
 *
 * One registry per QueryClient, so that tests with their own client never share one.
 */

import type { QueryClient } from "@tanstack/react-query";
import type { SitesResponse, SiteStatus } from "../api/types";
import { patchSiteInList, patchSiteStatus, type SiteStatusPatch } from "./cacheEdits";

export class PendingControls {
  private readonly patches = new Map<number, SiteStatusPatch>();

  set(siteId: number, patch: SiteStatusPatch): void {
    this.patches.set(siteId, patch);
  }

  clear(siteId: number): void {
    this.patches.delete(siteId);
  }

  has(siteId: number): boolean {
    return this.patches.has(siteId);
  }

  /** A sites-list answer with every pending site shown as it was optimistically set. */
  overlayList(list: SitesResponse): SitesResponse {
    let out = list;
    for (const [siteId, patch] of this.patches) out = patchSiteInList(out, siteId, patch) ?? out;
    return out;
  }

  /** A status answer of one site, with its pending patch if it has one. */
  overlaySite(site: SiteStatus): SiteStatus {
    const patch = this.patches.get(site.site_id);
    return patch ? (patchSiteStatus(site, patch) ?? site) : site;
  }
}

const registries = new WeakMap<QueryClient, PendingControls>();

export function pendingControls(client: QueryClient): PendingControls {
  let registry = registries.get(client);
  if (registry === undefined) {
    registry = new PendingControls();
    registries.set(client, registry);
  }
  return registry;
}
