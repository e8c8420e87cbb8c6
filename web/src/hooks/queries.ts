/**
 * The dashboard's queries, one hook each, all keyed through queryKeys. Freshness comes mostly
 * from live events (see data/eventPlan.ts); the intervals below only cover what no event
 * announces (last heartbeat, message counters, sensor readings).
 */

import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/endpoints";
import { pendingControls } from "../data/pendingControls";
import { queryKeys } from "../data/queryKeys";
import { BUCKET_ABOVE_S, bucketFor, fetchReadingsWindow, type ReadingsWindow } from "../data/readings";

/** Counters and last-heartbeat times change with every message and have no event. */
const COUNTERS_REFRESH_MS = 15_000;
/**
 * The sites list carries each site's last heartbeat, which devices renew every few seconds:
 * polled at the heartbeat's own pace, so "last heartbeat" never climbs far past it.
 */
const SITES_REFRESH_MS = 5_000;

/** Status answers keep the optimistic status of a start/stop until its event arrives. */
export const useSites = () => {
  const pending = pendingControls(useQueryClient());
  return useQuery({
    queryKey: queryKeys.siteList(),
    queryFn: async ({ signal }) => pending.overlayList(await api.sites(signal)),
    refetchInterval: SITES_REFRESH_MS,
  });
};

export const useSiteStatus = (siteId: number) => {
  const pending = pendingControls(useQueryClient());
  return useQuery({
    queryKey: queryKeys.siteStatus(siteId),
    queryFn: async ({ signal }) => pending.overlaySite(await api.siteStatus(siteId, signal)),
    refetchInterval: SITES_REFRESH_MS,
  });
};

export const useSiteConfig = (siteId: number, enabled = true) =>
  useQuery({ queryKey: queryKeys.siteConfig(siteId), queryFn: ({ signal }) => api.siteConfig(siteId, signal), enabled });

export const useSiteHistory = (siteId: number) =>
  useQuery({ queryKey: queryKeys.siteHistory(siteId), queryFn: ({ signal }) => api.siteHistory(siteId, signal) });

export const useSiteCommands = (siteId: number) =>
  useQuery({ queryKey: queryKeys.siteCommands(siteId), queryFn: ({ signal }) => api.siteCommands(siteId, signal) });

export const useSiteTopics = (siteId: number) =>
  useQuery({ queryKey: queryKeys.siteTopics(siteId), queryFn: ({ signal }) => api.topics(siteId, signal) });

/** Polls while a discovery window is open, then stops. */
export const useSiteDiscovery = (siteId: number) =>
  useQuery({
    queryKey: queryKeys.siteDiscovery(siteId),
    queryFn: ({ signal }) => api.discovery(siteId, signal),
    refetchInterval: (query) => (query.state.data?.state === "running" ? 2000 : false),
  });

/**
 * `siteId` null: the whole fleet, which only feeds the device counts of the fleet page. Its
 * answers can hold twenty thousand devices; comparing each with the previous one to keep
 * unchanged rows' identities (structural sharing) would cost more than it saves there.
 */
export const useDataloggers = (siteId: number | null) =>
  useQuery({
    queryKey: queryKeys.dataloggerList(siteId),
    queryFn: ({ signal }) => api.dataloggers(siteId, signal),
    refetchInterval: siteId === null ? false : COUNTERS_REFRESH_MS,
    structuralSharing: siteId !== null,
  });

export const useGateways = (siteId: number | null) =>
  useQuery({
    queryKey: queryKeys.gatewayList(siteId),
    queryFn: ({ signal }) => api.gateways(siteId, signal),
    refetchInterval: siteId === null ? false : COUNTERS_REFRESH_MS,
    structuralSharing: siteId !== null,
  });

export const useDatalogger = (id: number) =>
  useQuery({
    queryKey: queryKeys.datalogger(id),
    queryFn: ({ signal }) => api.datalogger(id, signal),
    refetchInterval: COUNTERS_REFRESH_MS,
  });

/** Sensor values arrive with heartbeats, which are not on our event stream: poll. */
const SENSOR_REFRESH_MS = 5_000;

export const useSensors = (dataloggerId: number) =>
  useQuery({
    queryKey: queryKeys.sensorsOf(dataloggerId),
    queryFn: ({ signal }) => api.sensorsByDatalogger(dataloggerId, signal),
    refetchInterval: SENSOR_REFRESH_MS,
  });

const READINGS_PAGE = 2000;
const READINGS_MAX_PAGES = 10;

/**
 * A sensor's window: raw readings for short windows; for long ones, the database's averages
 * per bucket (bucket_s), so a 7-day chart of a 5-second sensor shows the whole week.
 */
export const useReadings = (sensorId: number, windowS: number) =>
  useQuery({
    queryKey: queryKeys.readings(sensorId, windowS),
    queryFn: async ({ signal }): Promise<ReadingsWindow> => {
      const since = new Date(Date.now() - windowS * 1000).toISOString();
      if (windowS > BUCKET_ABOVE_S) {
        const bucketS = bucketFor(windowS);
        const buckets = (await api.readingBuckets(sensorId, since, bucketS, signal)).readings;
        return {
          readings: buckets.map((b) => ({ at: b.at, value: b.avg })),
          truncated: false,
          bucketS,
          low: buckets.map((b) => b.min),
          high: buckets.map((b) => b.max),
        };
      }
      return fetchReadingsWindow(
        async (from, limit) => (await api.readings(sensorId, from, limit, signal)).readings,
        since,
        READINGS_PAGE,
        READINGS_MAX_PAGES,
      );
    },
    refetchInterval: SENSOR_REFRESH_MS,
    placeholderData: keepPreviousData,
  });

/** A read that has not answered within this long is shown as failed (with a retry), not as "Loading…". */
const READ_TIMEOUT_MS = 8000;

/**
 * `cluster.changed` events refetch the cluster at once (data/eventPlan.ts); the interval is
 * the fallback for what no event announces: each instance's last heartbeat, and an instance
 * that died (its sites move only after the lease TTL).
 */
const CLUSTER_REFRESH_MS = 10_000;

export const useCluster = () =>
  useQuery({
    queryKey: queryKeys.cluster(),
    queryFn: ({ signal }) => api.cluster(AbortSignal.any([signal, AbortSignal.timeout(READ_TIMEOUT_MS)])),
    refetchInterval: CLUSTER_REFRESH_MS,
  });

export const useActors = () =>
  useQuery({
    queryKey: queryKeys.actors(),
    queryFn: ({ signal }) => api.actors(AbortSignal.any([signal, AbortSignal.timeout(READ_TIMEOUT_MS)])),
    refetchInterval: 2000,
  });

/** The newest entries; the API pages further back with `offset`, which this page does not need. */
const AUDIT_LIMIT = 1000;

export const useAudit = () =>
  useQuery({ queryKey: queryKeys.audit(), queryFn: ({ signal }) => api.audit(AUDIT_LIMIT, signal) });

/** Health has no event; polled on every page for the banner. */
export const useHealth = () =>
  useQuery({ queryKey: queryKeys.health(), queryFn: ({ signal }) => api.health(signal), refetchInterval: 10_000, retry: false });
