/**
 * The API's types, by the names the dashboard uses. Every answer (and request body) is the
 * server's own schema, generated from its OpenAPI document into schema.d.ts by
 * `make web-types` (tests/api/test_dashboard_types.py fails when that file is stale): none is
 * copied by hand. Times are ISO 8601 UTC strings ending in "Z".
 */

import type { components } from "./schema";

type Schemas = components["schemas"];

export type ConnectionStatus = Schemas["ConnectionStatus"];
export const CONNECTION_STATUSES: readonly ConnectionStatus[] = ["connected", "connecting", "disconnected", "disabled", "error"];

export type Availability = Schemas["Datalogger"]["availability"];
export const AVAILABILITIES: readonly Availability[] = ["online", "offline", "unreachable", "unknown"];

export type Me = Schemas["Me"];
export type Role = Me["role"];

/** The status object of a site (GET sites/, sites/{id}/status/). */
export type SiteStatus = Schemas["StatusObject"];
export type SitesResponse = Schemas["SiteList"];
export type Owner = Schemas["Owner"];

/** GET sites/{id}/: the config, with has_password in place of the password. */
export type SiteConfig = Schemas["Site"];
export type MqttProtocol = SiteConfig["protocol"];

/** The site fields the dashboard's form writes (POST sites/, PATCH sites/{id}/): a part of
 * the server's `SiteCreate` (Schemas["SiteCreate"]), each field typed as the server types it. */
export type SiteInput = Pick<
  Schemas["SiteCreate"],
  | "name"
  | "code"
  | "broker_host"
  | "broker_port"
  | "username"
  | "password"
  | "client_id_prefix"
  | "protocol"
  | "keepalive_s"
  | "tls"
  | "tls_ca_pem"
  | "offline_after_s"
  | "is_enabled"
>;

export type ConnectionEvent = Schemas["ConnectionEventItem"];
export type ConnectionEventKind = ConnectionEvent["kind"];
export type HistoryStats = Schemas["Last24h"];
/** GET sites/{id}/history/: events newest first, and the last 24 h. */
export type SiteHistory = Schemas["SiteHistory"];

/** A published command. The payload itself is not kept, only its size. */
export type Command = Schemas["Command"];
export type CommandOutcome = Command["outcome"];
export type CommandsResponse = Schemas["CommandList"];
export type Qos = Command["qos"];

export type PublishInput = Schemas["PublishCommand"];
export type PublishResult = Schemas["PublishResult"];
/** start/, stop/, reconnect/. */
export type ControlResult = Schemas["Done"];

export type Subscription = Schemas["Topic"];
export type DeviceKind = Subscription["device_kind"];
export type MessageKind = Subscription["message_kind"];
export type SubscriptionInput = Schemas["TopicCreate"];
export type TopicsResponse = Schemas["TopicList"];

export type DiscoveredTopic = Schemas["SeenTopic"];
/** GET sites/{id}/discovery/: the current or last window. */
export type Discovery = Schemas["Discovery"];

export type Datalogger = Schemas["Datalogger"];
export type DataloggersResponse = Schemas["DataloggerList"];
/** One stretch of a device's availability; `ended_at` is null while it lasts. */
export type AvailabilityInterval = Schemas["AvailabilityInterval"];
export type DataloggerDetail = Schemas["DataloggerDetail"];
export type DataloggerPatch = Schemas["DataloggerUpdate"];
export type Gateway = Schemas["Gateway"];
export type GatewaysResponse = Schemas["GatewayList"];
export type Sensor = Schemas["Sensor"];
export type SensorsResponse = Schemas["SensorList"];
export type Reading = Schemas["Reading"];
export type ReadingsResponse = Schemas["Readings"];
/** One bucket of `readings?bucket_s=`: the database's summary of its readings. */
export type ReadingBucket = Schemas["Bucket"];
export type ReadingBucketsResponse = Schemas["Buckets"];

/** `children` is left out when the tree is flattened (`?kind=`). */
export type ActorNode = Schemas["ActorNode"];
export type ActorTree = Schemas["ActorTree"];

/** `detail`: ids and names of changed fields; never secrets or payloads. */
export type AuditEntry = Schemas["AuditEntry"];
export type AuditResponse = Schemas["AuditPage"];

/**
 * GET /api/v1/cluster: every live instance with its site workers, and the enabled sites no
 * instance runs. `instance_id` at the top is the instance that answered.
 */
export type ClusterAnswer = Schemas["ClusterAnswer"];
export type ClusterInstance = Schemas["InstanceAnswer"];
/** A site worker process; `pid` is null while it is being started again. */
export type ClusterWorker = Schemas["WorkerAnswer"];
export type WorkerState = ClusterWorker["state"];

/** GET /api/v1/mqtt/health/ (200 for healthy and degraded, 503 for unhealthy, same body). */
export type Health = Schemas["Health"];

/** GET /api/v1/tokens: every token by name (never its secret). */
export type TokenInfo = Schemas["TokenInfo"];
export type TokensResponse = Schemas["TokenList"];
/** POST /api/v1/tokens: the new token's secret, shown this once. */
export type NewToken = Schemas["NewToken"];

// The alerts of API.md ("Alerts") live in alertTypes.ts, by concern; imported from here as the rest.
export * from "./alertTypes";
