/**
 * The alert queries. Alert lists are kept fresh by the stream's `alert.*` events (see
 * data/eventPlan.ts); notification attempts have no event, so lists are also polled, slowly.
 */

import { useQueries, useQuery } from "@tanstack/react-query";
import { api } from "../api/endpoints";
import type { AlertFilter, AlertState } from "../api/types";
import { ALERT_LIST_LIMIT } from "../data/alerts";
import { queryKeys } from "../data/queryKeys";

/** Delivery attempts change without an event; an open Alerts page catches up this often. */
const ALERTS_REFRESH_MS = 15_000;

const alertListQuery = (filter: AlertFilter) => ({
  queryKey: queryKeys.alertList(filter),
  queryFn: ({ signal }: { signal: AbortSignal }) => api.alerts(filter, ALERT_LIST_LIMIT, signal),
  refetchInterval: ALERTS_REFRESH_MS,
});

export const useAlerts = (filter: AlertFilter) => useQuery(alertListQuery(filter));

/** One list per state, for one site or all (`siteId` null): the API filters by one state at a time. */
export const useAlertsByState = (states: readonly AlertState[], siteId: number | null) =>
  useQueries({ queries: states.map((state) => alertListQuery({ state, siteId })) });

export const useAlertRules = () =>
  useQuery({ queryKey: queryKeys.alertRules(), queryFn: ({ signal }) => api.alertRules(signal) });

/** Channels are admin-only in the API: viewers never ask. */
export const useAlertChannels = (enabled: boolean) =>
  useQuery({ queryKey: queryKeys.alertChannels(), queryFn: ({ signal }) => api.alertChannels(signal), enabled });

export const useSilences = () =>
  useQuery({ queryKey: queryKeys.alertSilences(), queryFn: ({ signal }) => api.silences(signal) });
