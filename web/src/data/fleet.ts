/** Pure views of the fleet: device counts per site, and the sites filter. */

import type { Availability, ConnectionStatus, SiteStatus } from "../api/types";

export type AvailabilityCounts = Record<Availability, number>;

export const emptyCounts = (): AvailabilityCounts => ({ online: 0, offline: 0, unreachable: 0, unknown: 0 });

/** Counts devices (dataloggers and gateways alike) by site and availability. */
export function countBySite(
  ...lists: readonly (readonly { site_id: number; availability: Availability }[] | undefined)[]
): Map<number, AvailabilityCounts> {
  const bySite = new Map<number, AvailabilityCounts>();
  for (const list of lists) {
    for (const device of list ?? []) {
      let counts = bySite.get(device.site_id);
      if (counts === undefined) {
        counts = emptyCounts();
        bySite.set(device.site_id, counts);
      }
      counts[device.availability] += 1;
    }
  }
  return bySite;
}

export interface SiteFilter {
  status: ConnectionStatus | "all";
  search: string;
}

export function filterSites(sites: readonly SiteStatus[], filter: SiteFilter): SiteStatus[] {
  const needle = filter.search.trim().toLowerCase();
  return sites.filter(
    (site) =>
      (filter.status === "all" || site.status === filter.status) &&
      (needle === "" || site.site_name.toLowerCase().includes(needle) || site.code.toLowerCase().includes(needle)),
  );
}

/** How many sites are in each status, for the filter buttons. */
export function countByStatus(sites: readonly SiteStatus[]): Record<ConnectionStatus, number> {
  const counts: Record<ConnectionStatus, number> = { connected: 0, connecting: 0, disconnected: 0, disabled: 0, error: 0 };
  for (const site of sites) counts[site.status] += 1;
  return counts;
}
