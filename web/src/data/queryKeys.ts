/**
 * Every TanStack Query key of the dashboard, built in one place.
 *
 * Keys are hierarchical so that a prefix names a family: ["sites"] is everything about sites,
 * ["sites", 3] everything about site 3, ["dataloggers", "list"] every datalogger list.
 * Lists carry `{ siteId }`, with `siteId: null` for the whole fleet.
 */

import type { AlertFilter } from "../api/types";

export type ListScope = { siteId: number | null };

export const queryKeys = {
  me: () => ["me"] as const,

  sites: () => ["sites"] as const,
  siteList: () => ["sites", "list"] as const,
  site: (siteId: number) => ["sites", siteId] as const,
  siteStatus: (siteId: number) => ["sites", siteId, "status"] as const,
  siteConfig: (siteId: number) => ["sites", siteId, "config"] as const,
  siteHistory: (siteId: number) => ["sites", siteId, "history"] as const,
  siteCommands: (siteId: number) => ["sites", siteId, "commands"] as const,
  siteTopics: (siteId: number) => ["sites", siteId, "topics"] as const,
  siteDiscovery: (siteId: number) => ["sites", siteId, "discovery"] as const,

  dataloggers: () => ["dataloggers"] as const,
  dataloggerLists: () => ["dataloggers", "list"] as const,
  dataloggerList: (siteId: number | null) => ["dataloggers", "list", { siteId } satisfies ListScope] as const,
  dataloggerDetails: () => ["dataloggers", "detail"] as const,
  datalogger: (id: number) => ["dataloggers", "detail", id] as const,

  gateways: () => ["gateways"] as const,
  gatewayLists: () => ["gateways", "list"] as const,
  gatewayList: (siteId: number | null) => ["gateways", "list", { siteId } satisfies ListScope] as const,

  sensorsOf: (dataloggerId: number) => ["sensors", "byDatalogger", dataloggerId] as const,
  readings: (sensorId: number, windowS: number) => ["sensors", "readings", sensorId, { windowS }] as const,

  actors: () => ["actors"] as const,
  cluster: () => ["cluster"] as const,
  audit: () => ["audit"] as const,
  tokens: () => ["tokens"] as const,
  health: () => ["health"] as const,

  alerts: () => ["alerts"] as const,
  alertLists: () => ["alerts", "list"] as const,
  alertList: (filter: AlertFilter) =>
    ["alerts", "list", { state: filter.state, siteId: filter.siteId } satisfies AlertFilter] as const,
  alertRules: () => ["alerts", "rules"] as const,
  alertChannels: () => ["alerts", "channels"] as const,
  alertSilences: () => ["alerts", "silences"] as const,
};

export type QueryKey = readonly unknown[];
