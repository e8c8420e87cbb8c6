/**
 * The alerts of ../shared/API.md ("Alerts"): rules, channels, alerts with their notifications,
 * silences — the server's own schemas (generated into schema.d.ts), by the names the dashboard
 * uses. Re-exported by types.ts. Times are ISO 8601 UTC strings ending in "Z".
 */

import type { components } from "./schema";

type Schemas = components["schemas"];

export type RuleKind = Schemas["RuleKind"];
export const RULE_KINDS: readonly RuleKind[] = ["site_down", "device_offline", "sensor_threshold", "no_data"];

export type AlertState = Schemas["AlertStateName"];
export const ALERT_STATES: readonly AlertState[] = ["firing", "pending", "resolved"];

export type ChannelKind = Schemas["ChannelKind"];
export const CHANNEL_KINDS: readonly ChannelKind[] = ["webhook", "apprise"];

/** Writable fields of a rule (POST rules, PATCH rules/{id}). `site_id` null: every site
 * (narrowed by `labels`, if any); `sensor_key`, `model`, `min`, `max`: sensor_threshold only. */
export type RuleInput = Schemas["RuleCreate"];
export type Rule = Schemas["Rule"];
export type RulesResponse = Schemas["RuleList"];

/** Writable fields of a channel. `url` and `secret` are write-only (see Channel); omit
 * `secret` to keep the stored one, null or "" removes it. */
export type ChannelInput = Schemas["ChannelCreate"];

/**
 * A channel as the server shows it: `url` without credentials (a webhook's host and path; of
 * an Apprise URL only its scheme), the secret only as `has_secret`.
 */
export type Channel = Schemas["Channel"];
export type ChannelsResponse = Schemas["ChannelList"];

/** POST channels/{id}/test. */
export type ChannelTestResult = Schemas["ChannelTestResult"];

/** One notification of an alert to one channel: its latest outcome and how many attempts;
 * `outcome` is queued, sending, sent or failed (shown as it comes when unknown). */
export type AlertNotification = Schemas["NotificationInfo"];
export type NotificationAttempt = Schemas["AttemptInfo"];

export type Alert = Schemas["AlertInfo"];

/** What an alerts list is narrowed to (API.md `?state=&site_id=`); null is "any". */
export interface AlertFilter {
  state: AlertState | null;
  siteId: number | null;
}

export type AlertsResponse = Schemas["AlertList"];

export type SilenceInput = Schemas["SilenceCreate"];
export type Silence = Schemas["Silence"];
export type SilencesResponse = Schemas["SilenceList"];
