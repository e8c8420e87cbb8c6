/**
 * Pure edits of cached API answers. Each returns the input itself when nothing changes, so
 * that React Query and React see no change and re-render nothing.
 */

import type { Availability, SitesResponse, SiteStatus } from "../api/types";

export type SiteStatusPatch = Partial<
  Pick<SiteStatus, "status" | "is_enabled" | "error_message" | "retry_count" | "next_retry_at">
>;

function differs<T extends object>(target: T, patch: Partial<T>): boolean {
  return (Object.keys(patch) as (keyof T)[]).some((key) => target[key] !== patch[key]);
}

export function patchSiteStatus(site: SiteStatus | undefined, patch: SiteStatusPatch): SiteStatus | undefined {
  if (site === undefined || !differs(site, patch)) return site;
  return { ...site, ...patch };
}

export function patchSiteInList(
  list: SitesResponse | undefined,
  siteId: number,
  patch: SiteStatusPatch,
): SitesResponse | undefined {
  if (list === undefined) return list;
  const index = list.sites.findIndex((site) => site.site_id === siteId);
  const site = list.sites[index];
  if (site === undefined) return list;
  const patched = patchSiteStatus(site, patch);
  if (patched === site || patched === undefined) return list;
  const sites = list.sites.slice();
  sites[index] = patched;
  return { ...list, sites };
}

/**
 * Applies many status patches and removals to the sites list in one pass (a broker outage
 * brings a thousand `site.status` events at once; one copy of the list, not a thousand).
 */
export function patchSitesInList(
  list: SitesResponse | undefined,
  patches: ReadonlyMap<number, SiteStatusPatch>,
  removed: ReadonlySet<number> = new Set(),
): SitesResponse | undefined {
  if (list === undefined || (patches.size === 0 && removed.size === 0)) return list;
  let changed = false;
  const sites: SiteStatus[] = [];
  for (const site of list.sites) {
    if (removed.has(site.site_id)) {
      changed = true;
      continue;
    }
    const patch = patches.get(site.site_id);
    const patched = patch ? (patchSiteStatus(site, patch) ?? site) : site;
    if (patched !== site) changed = true;
    sites.push(patched);
  }
  return changed ? { ...list, sites } : list;
}

interface HasAvailability {
  id: number;
  availability: Availability;
  is_online: boolean;
}

export function patchDeviceAvailability<T extends HasAvailability>(
  device: T | undefined,
  availability: Availability,
): T | undefined {
  if (device === undefined || device.availability === availability) return device;
  return { ...device, availability, is_online: availability === "online" };
}

/** Sets the availability of many devices inside a `{ [field]: T[] }` list answer, in one pass. */
export function patchDevicesInList<K extends string, T extends HasAvailability>(
  list: ({ [key in K]: T[] } & object) | undefined,
  field: K,
  availability: ReadonlyMap<number, Availability>,
): ({ [key in K]: T[] } & object) | undefined {
  if (list === undefined || availability.size === 0) return list;
  let changed = false;
  const devices = list[field].map((device) => {
    const next = availability.get(device.id);
    const patched = next === undefined ? device : (patchDeviceAvailability(device, next) ?? device);
    if (patched !== device) changed = true;
    return patched;
  });
  return changed ? { ...list, [field]: devices } : list;
}
