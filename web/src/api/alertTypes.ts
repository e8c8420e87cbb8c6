/**
 * The alerts of ../shared/API.md ("Alerts"): rules, channels, alerts with their notifications,
 * silences. Re-exported by types.ts. Times are ISO 8601 UTC strings ending in "Z".
 *
 * Where API.md is silent (the answer of `channels/{id}/test`, of `ack`), the shape is our
 * reading of it and the code reads it defensively.
 */

export type RuleKind = "site_down" | "device_offline" | "sensor_threshold" | "no_data";
export const RULE_KINDS: readonly RuleKind[] = ["site_down", "device_offline", "sensor_threshold", "no_data"];

export type AlertState = "pending" | "firing" | "resolved";
export const ALERT_STATES: readonly AlertState[] = ["firing", "pending", "resolved"];

export type ChannelKind = "webhook" | "apprise";
export const CHANNEL_KINDS: readonly ChannelKind[] = ["webhook", "apprise"];

/** Writable fields of a rule (POST rules, PATCH rules/{id}). */
export interface RuleInput {
  name: string;
  kind: RuleKind;
  /** null: every site (narrowed by `labels`, if any). */
  site_id: number | null;
  labels: Record<string, string>;
  for_s: number;
  repeat_s: number;
  notify_resolved: boolean;
  channel_ids: number[];
  is_enabled: boolean;
  /** sensor_threshold only. */
  sensor_key: string;
  model: string;
  min: number | null;
  max: number | null;
}

export interface Rule extends RuleInput {
  id: number;
  created_at: string;
  updated_at: string;
}

export interface RulesResponse {
  rules: Rule[];
}

/** Writable fields of a channel. `url` and `secret` are write-only (see Channel). */
export interface ChannelInput {
  name: string;
  kind: ChannelKind;
  url: string;
  /** Webhook only. Omit to keep the stored one; null or "" removes it. */
  secret?: string | null;
  is_enabled: boolean;
}

/**
 * A channel as the server shows it: `url` without credentials (a webhook's host and path; of
 * an Apprise URL only its scheme), the secret only as `has_secret`.
 */
export interface Channel {
  id: number;
  name: string;
  kind: ChannelKind;
  url: string;
  has_secret: boolean;
  is_enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface ChannelsResponse {
  channels: Channel[];
}

/** POST channels/{id}/test. API.md says only "the outcome"; the rest is read if present. */
export interface ChannelTestResult {
  outcome: string;
  error?: string;
  duration_ms?: number;
}

/** One notification of an alert to one channel: its latest outcome and how many attempts. */
export interface AlertNotification {
  channel_id: number;
  at: string;
  /** queued, sending, sent or failed (the server's words; shown as they come when unknown). */
  outcome: string;
  attempts: number;
  error: string;
  /** Which change of the alert it tells (firing, resolved, repeat), when the server says. */
  transition?: string;
  /** Each attempt, oldest first, when the server lists them (beyond API.md). */
  history?: NotificationAttempt[];
}

export interface NotificationAttempt {
  at: string;
  outcome: string;
  error: string;
  duration_ms?: number;
}

export interface Alert {
  id: number;
  rule_id: number | null;
  kind: RuleKind;
  state: AlertState;
  site_id: number | null;
  device_id: number | null;
  sensor_id: number | null;
  message: string;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  silenced: boolean;
  notifications: AlertNotification[];
}

/** What an alerts list is narrowed to (API.md `?state=&site_id=`); null is "any". */
export interface AlertFilter {
  state: AlertState | null;
  siteId: number | null;
}

export interface AlertsResponse {
  alerts: Alert[];
}

export interface SilenceInput {
  site_id: number | null;
  rule_id: number | null;
  until: string;
  reason: string;
}

export interface Silence extends SilenceInput {
  id: number;
  created_by: string;
  created_at: string;
}

export interface SilencesResponse {
  silences: Silence[];
}
