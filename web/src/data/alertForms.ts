/**
 * The rule, channel and silence forms as plain data: a draft (what the inputs hold, as text),
 * the checks made before sending (each names its field and a message key under
 * `alerts.invalid.`), and the body that is sent. Pure, tested in test/alertForms.test.ts. The
 * server checks everything again and its 400s are shown the same way (data/fieldErrors.ts).
 */

import type { Channel, ChannelInput, ChannelKind, Rule, RuleInput, RuleKind, SilenceInput } from "../api/types";

export type InvalidKey =
  | "required"
  | "wholeSeconds"
  | "number"
  | "minAboveMax"
  | "thresholdBound"
  | "labels"
  | "labelsNeeded"
  | "siteNeeded"
  | "httpUrl"
  | "appriseUrl"
  | "inPast"
  | "silenceScope";

/** Field → what is wrong with it. Empty when the draft can be sent. */
export type Invalid = Partial<Record<string, InvalidKey>>;

export type RuleScope = "all" | "site" | "labels";

export interface RuleDraft {
  name: string;
  kind: RuleKind;
  scope: RuleScope;
  site_id: string;
  labels: string;
  for_s: string;
  repeat_s: string;
  notify_resolved: boolean;
  channel_ids: number[];
  is_enabled: boolean;
  sensor_key: string;
  model: string;
  min: string;
  max: string;
}

export const NEW_RULE: RuleDraft = {
  name: "",
  kind: "site_down",
  scope: "all",
  site_id: "",
  labels: "",
  for_s: "60",
  repeat_s: "0",
  notify_resolved: true,
  channel_ids: [],
  is_enabled: true,
  sensor_key: "",
  model: "",
  min: "",
  max: "",
};

/** "region=puglia, tier=gold" ⇄ {region: "puglia", tier: "gold"}; null when a pair is malformed. */
export function parseLabels(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  for (const pair of text.split(/[,\n]/)) {
    if (!pair.trim()) continue;
    const at = pair.indexOf("=");
    const key = at < 0 ? "" : pair.slice(0, at).trim();
    if (!key) return null;
    labels[key] = pair.slice(at + 1).trim();
  }
  return labels;
}

export function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

export function ruleDraftOf(rule: Rule): RuleDraft {
  return {
    name: rule.name,
    kind: rule.kind,
    scope: rule.site_id !== null ? "site" : Object.keys(rule.labels).length > 0 ? "labels" : "all",
    site_id: rule.site_id === null ? "" : String(rule.site_id),
    labels: labelsText(rule.labels),
    for_s: String(rule.for_s),
    repeat_s: String(rule.repeat_s),
    notify_resolved: rule.notify_resolved,
    channel_ids: [...rule.channel_ids],
    is_enabled: rule.is_enabled,
    sensor_key: rule.sensor_key,
    model: rule.model,
    min: rule.min === null ? "" : String(rule.min),
    max: rule.max === null ? "" : String(rule.max),
  };
}

function wholeSeconds(text: string): number | null {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

function optionalNumber(text: string): number | null | undefined {
  const trimmed = text.trim().replace(",", ".");
  if (trimmed === "") return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

export function validateRule(draft: RuleDraft): Invalid {
  const invalid: Invalid = {};
  if (!draft.name.trim()) invalid.name = "required";
  if (wholeSeconds(draft.for_s) === null) invalid.for_s = "wholeSeconds";
  if (wholeSeconds(draft.repeat_s) === null) invalid.repeat_s = "wholeSeconds";
  if (draft.scope === "site" && !draft.site_id) invalid.site_id = "siteNeeded";
  if (draft.scope === "labels") {
    const labels = parseLabels(draft.labels);
    if (labels === null) invalid.labels = "labels";
    else if (Object.keys(labels).length === 0) invalid.labels = "labelsNeeded";
  }
  if (draft.kind === "sensor_threshold") {
    if (!draft.sensor_key.trim()) invalid.sensor_key = "required";
    const min = optionalNumber(draft.min);
    const max = optionalNumber(draft.max);
    if (min === undefined) invalid.min = "number";
    if (max === undefined) invalid.max = "number";
    if (min === null && max === null) invalid.min = "thresholdBound";
    if (typeof min === "number" && typeof max === "number" && min > max) invalid.max = "minAboveMax";
  }
  return invalid;
}

/** The body of a valid draft. Threshold fields go empty for the other kinds. */
export function ruleInputOf(draft: RuleDraft): RuleInput {
  const threshold = draft.kind === "sensor_threshold";
  return {
    name: draft.name.trim(),
    kind: draft.kind,
    site_id: draft.scope === "site" && draft.site_id ? Number(draft.site_id) : null,
    labels: draft.scope === "labels" ? (parseLabels(draft.labels) ?? {}) : {},
    for_s: wholeSeconds(draft.for_s) ?? 0,
    repeat_s: wholeSeconds(draft.repeat_s) ?? 0,
    notify_resolved: draft.notify_resolved,
    channel_ids: [...draft.channel_ids].sort((a, b) => a - b),
    is_enabled: draft.is_enabled,
    sensor_key: threshold ? draft.sensor_key.trim() : "",
    model: threshold ? draft.model.trim() : "",
    min: threshold ? (optionalNumber(draft.min) ?? null) : null,
    max: threshold ? (optionalNumber(draft.max) ?? null) : null,
  };
}

/** For an edit: only the fields that changed. */
export function ruleChanges(before: Rule, input: RuleInput): Partial<RuleInput> {
  const patch: Partial<RuleInput> = {};
  for (const key of Object.keys(input) as (keyof RuleInput)[]) {
    if (JSON.stringify(input[key]) !== JSON.stringify(before[key])) Object.assign(patch, { [key]: input[key] });
  }
  return patch;
}

export interface ChannelDraft {
  name: string;
  kind: ChannelKind;
  /** Blank on an edit keeps the stored URL (the server never shows it whole). */
  url: string;
  /** Blank keeps the stored secret. */
  secret: string;
  clear_secret: boolean;
  is_enabled: boolean;
}

export const NEW_CHANNEL: ChannelDraft = { name: "", kind: "webhook", url: "", secret: "", clear_secret: false, is_enabled: true };

export function channelDraftOf(channel: Channel): ChannelDraft {
  return { name: channel.name, kind: channel.kind, url: "", secret: "", clear_secret: false, is_enabled: channel.is_enabled };
}

/** `existing`: the channel being edited, whose URL may be left blank. */
export function validateChannel(draft: ChannelDraft, existing?: Channel): Invalid {
  const invalid: Invalid = {};
  if (!draft.name.trim()) invalid.name = "required";
  const url = draft.url.trim();
  const kindChanged = existing !== undefined && existing.kind !== draft.kind;
  if (!url) {
    if (existing === undefined || kindChanged) invalid.url = "required";
  } else if (draft.kind === "webhook") {
    let scheme = "";
    try {
      scheme = new URL(url).protocol;
    } catch {
      scheme = "";
    }
    if (scheme !== "http:" && scheme !== "https:") invalid.url = "httpUrl";
  } else if (!/^[a-z][a-z0-9+.-]*:\/\/./i.test(url)) {
    invalid.url = "appriseUrl";
  }
  return invalid;
}

/** A new channel's body, or an edit's changes (URL and secret only when typed or removed). */
export function channelBody(draft: ChannelDraft, existing?: Channel): Partial<ChannelInput> {
  const webhook = draft.kind === "webhook";
  const body: Partial<ChannelInput> = {};
  if (!existing || existing.name !== draft.name.trim()) body.name = draft.name.trim();
  if (!existing || existing.kind !== draft.kind) body.kind = draft.kind;
  if (draft.url.trim()) body.url = draft.url.trim();
  if (webhook && draft.secret) body.secret = draft.secret;
  else if (existing?.has_secret && (draft.clear_secret || !webhook)) body.secret = null;
  if (!existing || existing.is_enabled !== draft.is_enabled) body.is_enabled = draft.is_enabled;
  return body;
}

export interface SilenceDraft {
  site_id: string;
  rule_id: string;
  /** A `datetime-local` value: the browser's local time. */
  until: string;
  reason: string;
}

/** A `datetime-local` value for the instant `ms`, in the browser's time zone. */
export function localInputValue(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function silenceDraft(siteId: number | null, ruleId: number | null, nowMs: number): SilenceDraft {
  return {
    site_id: siteId === null ? "" : String(siteId),
    rule_id: ruleId === null ? "" : String(ruleId),
    until: localInputValue(nowMs + 2 * 3600 * 1000),
    reason: "",
  };
}

export function validateSilence(draft: SilenceDraft, nowMs: number): Invalid {
  const invalid: Invalid = {};
  if (!draft.site_id && !draft.rule_id) invalid.site_id = "silenceScope";
  const until = Date.parse(draft.until);
  if (!draft.until || Number.isNaN(until)) invalid.until = "required";
  else if (until <= nowMs) invalid.until = "inPast";
  if (!draft.reason.trim()) invalid.reason = "required";
  return invalid;
}

export function silenceInputOf(draft: SilenceDraft): SilenceInput {
  return {
    site_id: draft.site_id ? Number(draft.site_id) : null,
    rule_id: draft.rule_id ? Number(draft.rule_id) : null,
    // datetime-local is read as local time; the API takes UTC.
    until: new Date(Date.parse(draft.until)).toISOString().replace(/\.\d{3}Z$/, "Z"),
    reason: draft.reason.trim(),
  };
}
