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

export function removeSiteFromList(list: SitesResponse | undefined, siteId: number): SitesResponse | undefined {
  if (list === undefined || !list.sites.some((site) => site.site_id === siteId)) return list;
  return { ...list, sites: list.sites.filter((site) => site.site_id !== siteId) };
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

/** Sets one device's availability inside a `{ [field]: T[] }` list answer. */
export function patchDeviceInList<K extends string, T extends HasAvailability>(
  list: ({ [key in K]: T[] } & object) | undefined,
  field: K,
  id: number,
  availability: Availability,
): ({ [key in K]: T[] } & object) | undefined {
  if (list === undefined) return list;
  const devices = list[field];
  const index = devices.findIndex((device) => device.id === id);
  const device = devices[index];
  if (device === undefined) return list;
  const patched = patchDeviceAvailability(device, availability);
  if (patched === device || patched === undefined) return list;
  const copy = devices.slice();
  copy[index] = patched;
  return { ...list, [field]: copy };
}
