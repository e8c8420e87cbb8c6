/**
 * Types mirroring ../shared/API.md. Times are ISO 8601 UTC strings ending in "Z".
 *
 * Where API.md names a resource without spelling out its fields (history, commands, topics,
 * discovery, gateways, audit), the shape here is our reading of it; web/README.md lists each
 * such choice.
 */

export type ConnectionStatus = "connecting" | "connected" | "disconnected" | "error" | "disabled";
export const CONNECTION_STATUSES: readonly ConnectionStatus[] = [
  "connected",
  "connecting",
  "disconnected",
  "disabled",
  "error",
];

export type Availability = "online" | "offline" | "unreachable" | "unknown";
export const AVAILABILITIES: readonly Availability[] = ["online", "offline", "unreachable", "unknown"];

export type Role = "admin" | "viewer";

export interface Me {
  name: string;
  role: Role;
}

/** The status object of a site (GET sites/, sites/{id}/status/). */
export interface SiteStatus {
  connection_id: number | null;
  site_id: number;
  site_name: string;
  code: string;
  is_enabled: boolean;
  status: ConnectionStatus;
  broker_host: string;
  broker_port: number;
  protocol: MqttProtocol;
  client_id: string;
  last_connected_at: string | null;
  last_heartbeat_at: string | null;
  connection_errors: number;
  error_message: string;
  handler_running: boolean;
  handler_connected: boolean;
  retry_count: number;
  next_retry_at: string | null;
  messages_received: number;
  messages_rejected: number;
  subscribed_topics: number;
  topics_list: string[];
}

export interface SitesResponse {
  sites: SiteStatus[];
}

export type MqttProtocol = "3.1.1" | "5";

/** Writable site fields (POST sites/, PATCH sites/{id}/). */
export interface SiteInput {
  name: string;
  code: string;
  broker_host: string;
  broker_port: number;
  username: string;
  /** Write-only: never returned. Omit to keep the stored one; null removes it. */
  password?: string | null;
  client_id_prefix: string;
  protocol: MqttProtocol;
  keepalive_s: number;
  tls: boolean;
  tls_ca_pem: string | null;
  offline_after_s: number;
  is_enabled: boolean;
}

/** GET sites/{id}/: the config, with has_password in place of the password. */
export interface SiteConfig extends Omit<SiteInput, "password"> {
  id: number;
  has_password: boolean;
  created_at: string;
  updated_at: string;
}

export type ConnectionEventKind = "connected" | "lost" | "failed" | "stopped";

export interface ConnectionEvent {
  kind: ConnectionEventKind;
  reason: string;
  at: string;
}

export interface HistoryStats {
  connects: number;
  drops: number;
  failures: number;
  uptime_percentage: number | null;
  window_start: string;
  window_end: string;
}

/** GET sites/{id}/history/: events newest first, and the last 24 h. */
export interface SiteHistory {
  site_id: number;
  events: ConnectionEvent[];
  last_24h: HistoryStats;
}

export type CommandOutcome = "sent" | "acked" | "failed";

/** A published command. The payload itself is not kept, only its size. */
export interface Command {
  command_id: string;
  site_id: number;
  topic: string;
  qos: Qos;
  retain: boolean;
  payload_size: number;
  sender: string;
  outcome: CommandOutcome;
  error: string;
  created_at: string;
  completed_at: string | null;
}

export interface CommandsResponse {
  commands: Command[];
}

export type Qos = 0 | 1 | 2;

export interface PublishInput {
  topic: string;
  message: string;
  qos: Qos;
  retain: boolean;
}

export interface PublishResult {
  success: boolean;
  message: string;
  command_id: string;
  outcome?: CommandOutcome;
}

export interface ControlResult {
  success: boolean;
  message: string;
}

export type DeviceKind = "datalogger" | "gateway";
export type MessageKind = "heartbeat" | "status";

export interface Subscription {
  id: number;
  site_id: number;
  pattern: string;
  device_kind: DeviceKind;
  message_kind: MessageKind;
  payload_version: string;
  qos: Qos;
  is_active: boolean;
  mqtt_filter: string;
}

export type SubscriptionInput = Omit<Subscription, "id" | "site_id" | "mqtt_filter">;

export interface TopicsResponse {
  topics: Subscription[];
}

export interface DiscoveredTopic {
  topic: string;
  count: number;
  last_payload_size: number;
  last_seen_at: string;
  guessed_kind: string;
  guessed_payload_version: string;
}

/** GET sites/{id}/discovery/: the current or last window. */
export interface Discovery {
  state: "idle" | "running" | "finished";
  started_at: string | null;
  ends_at: string | null;
  topics: DiscoveredTopic[];
}

export interface Datalogger {
  id: number;
  site_id: number;
  serial_number: string;
  model: string;
  label: string;
  gateway: string;
  availability: Availability;
  is_online: boolean;
  firmware_version: string | null;
  sensors_count: number;
  uptime_percentage: number | null;
  offline_after_s: number | null;
  last_seen_at: string | null;
  discovered_at: string;
}

export interface DataloggersResponse {
  dataloggers: Datalogger[];
}

/** One stretch of a device's availability; `ended_at` is null while it lasts. */
export interface AvailabilityInterval {
  availability: Availability;
  started_at: string;
  ended_at: string | null;
}

export interface DataloggerDetail extends Datalogger {
  sensors: Sensor[];
  availability_history: AvailabilityInterval[];
}

export interface DataloggerPatch {
  label?: string;
  offline_after_s?: number | null;
}

export interface Gateway {
  id: number;
  site_id: number;
  serial_number: string;
  label: string;
  availability: Availability;
  is_online: boolean;
  firmware_version: string | null;
  uptime_percentage: number | null;
  last_seen_at: string | null;
  discovered_at: string;
}

export interface GatewaysResponse {
  gateways: Gateway[];
}

export interface Sensor {
  id: number;
  datalogger_id: number;
  key: string;
  label: string;
  sensor_type: string;
  is_online: boolean;
  current_value: number | null;
  unit_of_measure: string;
  updated_at: string | null;
}

export interface SensorsResponse {
  sensors: Sensor[];
}

export interface Reading {
  at: string;
  value: number | null;
}

export interface ReadingsResponse {
  readings: Reading[];
}

/** One bucket of `readings?bucket_s=`: the database's summary of its readings. */
export interface ReadingBucket {
  at: string;
  min: number;
  avg: number;
  max: number;
  count: number;
}

export interface ReadingBucketsResponse {
  readings: ReadingBucket[];
}

export interface ActorNode {
  urn: string;
  kind: string;
  name: string;
  state: string;
  mailbox: number;
  processed: number;
  restarts: number;
  started_at: string | null;
  children?: ActorNode[];
}

export interface ActorTree {
  instance_id: string;
  actors: ActorNode[];
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  result: string;
  /** Ids and names of changed fields; never secrets or payloads. */
  detail: Record<string, unknown>;
}

export interface AuditResponse {
  entries: AuditEntry[];
}

/** GET /api/v1/mqtt/health/ (200 for healthy and degraded, 503 for unhealthy, same body). */
export interface Health {
  status: "healthy" | "degraded" | "unhealthy";
  service: { running: boolean; instance_id: string };
  connections: { total: number; enabled: number; healthy: number; unhealthy: number };
  storage: { ok: boolean; engine: string };
}

/** GET /api/v1/tokens: every token by name (never its secret). */
export interface TokenInfo {
  name: string;
  role: Role;
  created_at: string;
  last_used_at: string | null;
}

export interface TokensResponse {
  tokens: TokenInfo[];
}

/** POST /api/v1/tokens: the new token's secret, shown this once. */
export interface NewToken extends TokenInfo {
  token: string;
}

// The alerts of API.md ("Alerts") live in alertTypes.ts, by concern; imported from here as the rest.
export * from "./alertTypes";
