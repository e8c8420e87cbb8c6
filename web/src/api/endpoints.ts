/** One function per endpoint of API.md that the dashboard uses. */

import { ApiError, request, withQuery } from "./client";
import type {
  ActorTree,
  ClusterAnswer,
  AlertsResponse,
  AlertFilter,
  Channel,
  ChannelInput,
  ChannelsResponse,
  ChannelTestResult,
  Rule,
  RuleInput,
  RulesResponse,
  Silence,
  SilenceInput,
  SilencesResponse,
  AuditResponse,
  CommandsResponse,
  ControlResult,
  DataloggerDetail,
  DataloggerPatch,
  DataloggersResponse,
  Discovery,
  GatewaysResponse,
  Health,
  Me,
  NewToken,
  Role,
  PublishInput,
  PublishResult,
  ReadingBucketsResponse,
  ReadingsResponse,
  SensorsResponse,
  SiteConfig,
  SiteHistory,
  SiteInput,
  SitesResponse,
  SiteStatus,
  Subscription,
  SubscriptionInput,
  TokensResponse,
  TopicsResponse,
} from "./types";
import { asReport, type ImportBody, type ImportReport } from "../data/bulkImport";

const V1 = "/api/v1";
const MQTT = `${V1}/mqtt`;

const ALERTS = `${V1}/alerts`;

export type ControlAction = "start" | "stop" | "reconnect";

export const api = {
  login: (token: string) => request<Me>("POST", `${V1}/auth/session`, { token }),
  logout: () => request<void>("DELETE", `${V1}/auth/session`),
  me: (signal?: AbortSignal) => request<Me>("GET", `${V1}/auth/me`, undefined, signal),

  sites: (signal?: AbortSignal) => request<SitesResponse>("GET", `${MQTT}/sites/`, undefined, signal),
  createSite: (input: Partial<SiteInput>) => request<SiteStatus>("POST", `${MQTT}/sites/`, input),
  siteConfig: (id: number, signal?: AbortSignal) => request<SiteConfig>("GET", `${MQTT}/sites/${id}/`, undefined, signal),
  patchSite: (id: number, patch: Partial<SiteInput>) => request<SiteConfig>("PATCH", `${MQTT}/sites/${id}/`, patch),
  deleteSite: (id: number) => request<void>("DELETE", `${MQTT}/sites/${id}/`),
  siteStatus: (id: number, signal?: AbortSignal) => request<SiteStatus>("GET", `${MQTT}/sites/${id}/status/`, undefined, signal),
  control: (id: number, action: ControlAction) => request<ControlResult>("POST", `${MQTT}/sites/${id}/${action}/`),
  siteHistory: (id: number, signal?: AbortSignal) =>
    request<SiteHistory>("GET", `${MQTT}/sites/${id}/history/`, undefined, signal),
  siteCommands: (id: number, signal?: AbortSignal) =>
    request<CommandsResponse>("GET", `${MQTT}/sites/${id}/commands/`, undefined, signal),
  publish: (id: number, input: PublishInput) => request<PublishResult>("POST", `${MQTT}/sites/${id}/publish/`, input),

  topics: (siteId: number, signal?: AbortSignal) =>
    request<TopicsResponse>("GET", `${MQTT}/sites/${siteId}/topics/`, undefined, signal),
  addTopic: (siteId: number, input: Partial<SubscriptionInput>) =>
    request<Subscription>("POST", `${MQTT}/sites/${siteId}/topics/`, input),
  patchTopic: (siteId: number, topicId: number, patch: Partial<SubscriptionInput>) =>
    request<Subscription>("PATCH", `${MQTT}/sites/${siteId}/topics/${topicId}/`, patch),
  deleteTopic: (siteId: number, topicId: number) => request<void>("DELETE", `${MQTT}/sites/${siteId}/topics/${topicId}/`),

  startDiscovery: (siteId: number, seconds: number) =>
    request<unknown>("POST", `${MQTT}/sites/${siteId}/discovery/`, { seconds }),
  discovery: (siteId: number, signal?: AbortSignal) =>
    request<Discovery>("GET", `${MQTT}/sites/${siteId}/discovery/`, undefined, signal),

  dataloggers: (siteId: number | null, signal?: AbortSignal) =>
    request<DataloggersResponse>("GET", withQuery(`${MQTT}/dataloggers/`, { site_id: siteId }), undefined, signal),
  datalogger: (id: number, signal?: AbortSignal) =>
    request<DataloggerDetail>("GET", `${MQTT}/dataloggers/${id}/`, undefined, signal),
  patchDatalogger: (id: number, patch: DataloggerPatch) =>
    request<DataloggerDetail>("PATCH", `${MQTT}/dataloggers/${id}/`, patch),
  deleteDatalogger: (id: number) => request<void>("DELETE", `${MQTT}/dataloggers/${id}/`),
  gateways: (siteId: number | null, signal?: AbortSignal) =>
    request<GatewaysResponse>("GET", withQuery(`${MQTT}/gateways/`, { site_id: siteId }), undefined, signal),

  sensorsByDatalogger: (dataloggerId: number, signal?: AbortSignal) =>
    request<SensorsResponse>(
      "GET",
      withQuery(`${MQTT}/sensors/by_datalogger`, { datalogger_id: dataloggerId }),
      undefined,
      signal,
    ),
  readings: (sensorId: number, since: string, limit: number, signal?: AbortSignal) =>
    request<ReadingsResponse>("GET", withQuery(`${MQTT}/sensors/${sensorId}/readings`, { since, limit }), undefined, signal),

  /** Health answers 503 with the same body when unhealthy: that is an answer, not a failure. */
  health: async (signal?: AbortSignal): Promise<Health> => {
    const init: RequestInit = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (signal) init.signal = signal;
    const response = await fetch(`${MQTT}/health/`, init);
    if (response.status !== 200 && response.status !== 503) throw new ApiError(response.status, response.statusText);
    return (await response.json()) as Health;
  },

  readingBuckets: (sensorId: number, since: string, bucketS: number, signal?: AbortSignal) =>
    request<ReadingBucketsResponse>(
      "GET",
      withQuery(`${MQTT}/sensors/${sensorId}/readings`, { since, bucket_s: bucketS, limit: 10_000 }),
      undefined,
      signal,
    ),
  /** A link, not a fetch: the browser downloads the CSV with the session cookie. */
  readingsCsvUrl: (sensorId: number, since: string, until: string) =>
    withQuery(`${MQTT}/sensors/${sensorId}/readings.csv`, { since, until }),

  /** A dry run or the real import of one file, sent as JSON (the cookie session may only
   * send JSON). Resolves to the per-row report also on a 400 that carries one (a bad row);
   * rejects with the server's words when the answer is no report (a file that does not parse). */
  importSites: async (body: ImportBody, dryRun: boolean): Promise<ImportReport> => {
    const response = await fetch(withQuery(`${MQTT}/sites/import`, { dry_run: dryRun ? 1 : undefined }), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text().catch(() => "");
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's page, say): its text is the error.
    }
    const report = response.status === 200 || response.status === 400 ? asReport(parsed) : null;
    if (report) return report;
    const detail =
      parsed && typeof parsed === "object" && "detail" in parsed
        ? String((parsed as { detail: unknown }).detail)
        : text.slice(0, 300);
    throw new ApiError(response.status, detail || response.statusText);
  },

  actors: (signal?: AbortSignal) => request<ActorTree>("GET", `${V1}/actors`, undefined, signal),
  cluster: (signal?: AbortSignal) => request<ClusterAnswer>("GET", `${V1}/cluster`, undefined, signal),
  tokens: (signal?: AbortSignal) => request<TokensResponse>("GET", `${V1}/tokens`, undefined, signal),
  createToken: (name: string, role: Role) => request<NewToken>("POST", `${V1}/tokens`, { name, role }),
  revokeToken: (name: string) => request<void>("DELETE", `${V1}/tokens/${encodeURIComponent(name)}`),

  audit: (limit: number, signal?: AbortSignal) =>
    request<AuditResponse>("GET", withQuery(`${V1}/audit`, { limit }), undefined, signal),

  alerts: (filter: AlertFilter, limit: number, signal?: AbortSignal) =>
    request<AlertsResponse>(
      "GET",
      withQuery(ALERTS, { state: filter.state, site_id: filter.siteId, limit }),
      undefined,
      signal,
    ),
  /** API.md does not say what the answer holds: the alert, when it is one (see parseAlert). */
  ackAlert: (id: number) => request<unknown>("POST", `${ALERTS}/${id}/ack`),

  alertRules: (signal?: AbortSignal) => request<RulesResponse>("GET", `${ALERTS}/rules`, undefined, signal),
  createRule: (input: RuleInput) => request<Rule>("POST", `${ALERTS}/rules`, input),
  patchRule: (id: number, patch: Partial<RuleInput>) => request<Rule>("PATCH", `${ALERTS}/rules/${id}`, patch),
  deleteRule: (id: number) => request<void>("DELETE", `${ALERTS}/rules/${id}`),

  alertChannels: (signal?: AbortSignal) => request<ChannelsResponse>("GET", `${ALERTS}/channels`, undefined, signal),
  createChannel: (input: ChannelInput) => request<Channel>("POST", `${ALERTS}/channels`, input),
  patchChannel: (id: number, patch: Partial<ChannelInput>) => request<Channel>("PATCH", `${ALERTS}/channels/${id}`, patch),
  deleteChannel: (id: number) => request<void>("DELETE", `${ALERTS}/channels/${id}`),
  testChannel: (id: number) => request<ChannelTestResult>("POST", `${ALERTS}/channels/${id}/test`),

  silences: (signal?: AbortSignal) => request<SilencesResponse>("GET", `${ALERTS}/silences`, undefined, signal),
  createSilence: (input: SilenceInput) => request<Silence>("POST", `${ALERTS}/silences`, input),
  deleteSilence: (id: number) => request<void>("DELETE", `${ALERTS}/silences/${id}`),
};
