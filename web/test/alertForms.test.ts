import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api/client";
import type { Channel, Rule } from "../src/api/types";
import {
  channelBody,
  NEW_CHANNEL,
  NEW_RULE,
  parseLabels,
  ruleChanges,
  ruleDraftOf,
  ruleInputOf,
  silenceDraft,
  silenceInputOf,
  validateChannel,
  validateRule,
  validateSilence,
  type InvalidKey,
} from "../src/data/alertForms";
import { fieldErrorsOf } from "../src/data/fieldErrors";
import { translator } from "./i18n";

const rule: Rule = {
  id: 4,
  name: "Sites down",
  kind: "site_down",
  site_id: null,
  labels: { region: "puglia" },
  for_s: 60,
  repeat_s: 0,
  notify_resolved: true,
  channel_ids: [1],
  is_enabled: true,
  sensor_key: "",
  model: "",
  min: null,
  max: null,
  created_at: "2025-11-11T10:00:00Z",
  updated_at: "2025-11-11T10:00:00Z",
};

const channel: Channel = {
  id: 1,
  name: "ops hook",
  kind: "webhook",
  url: "https://hooks.example.com/alert",
  has_secret: true,
  is_enabled: true,
  created_at: "2025-11-11T10:00:00Z",
  updated_at: "2025-11-11T10:00:00Z",
};

describe("validateRule", () => {
  it("accepts a new site_down rule with a name", () => {
    expect(validateRule({ ...NEW_RULE, name: "down" })).toEqual({});
  });

  it("names each field that is wrong", () => {
    expect(validateRule({ ...NEW_RULE, for_s: "1.5", repeat_s: "-1" })).toEqual({
      name: "required",
      for_s: "wholeSeconds",
      repeat_s: "wholeSeconds",
    });
    expect(validateRule({ ...NEW_RULE, name: "x", scope: "site" })).toEqual({ site_id: "siteNeeded" });
    expect(validateRule({ ...NEW_RULE, name: "x", scope: "labels", labels: "" })).toEqual({ labels: "labelsNeeded" });
    expect(validateRule({ ...NEW_RULE, name: "x", scope: "labels", labels: "region" })).toEqual({ labels: "labels" });
  });

  it("wants a sensor key and a min or a max for a threshold, with min not above max", () => {
    const threshold = { ...NEW_RULE, name: "hot", kind: "sensor_threshold" as const };
    expect(validateRule(threshold)).toEqual({ sensor_key: "required", min: "thresholdBound" });
    expect(validateRule({ ...threshold, sensor_key: "t_ext", max: "40" })).toEqual({});
    expect(validateRule({ ...threshold, sensor_key: "t_ext", min: "50", max: "40" })).toEqual({ max: "minAboveMax" });
    expect(validateRule({ ...threshold, sensor_key: "t_ext", min: "warm" })).toEqual({ min: "number" });
    // Italian keyboards write a decimal comma.
    expect(ruleInputOf({ ...threshold, sensor_key: "t_ext", min: "-2,5" }).min).toBe(-2.5);
  });

  it("every message exists in English and Italian", () => {
    const keys: InvalidKey[] = [
      "required", "wholeSeconds", "number", "minAboveMax", "thresholdBound", "labels",
      "labelsNeeded", "siteNeeded", "httpUrl", "appriseUrl", "inPast", "silenceScope",
    ];
    for (const language of ["en", "it"] as const) {
      const t = translator(language);
      for (const key of keys) expect(t(`alerts.invalid.${key}`)).not.toBe(`alerts.invalid.${key}`);
    }
  });
});

describe("rule drafts", () => {
  it("round-trips a stored rule, and an edit sends only what changed", () => {
    const draft = ruleDraftOf(rule);
    expect(draft.scope).toBe("labels");
    expect(ruleInputOf(draft)).toMatchObject({ labels: { region: "puglia" }, site_id: null, for_s: 60, channel_ids: [1] });
    expect(ruleChanges(rule, ruleInputOf(draft))).toEqual({});
    expect(ruleChanges(rule, ruleInputOf({ ...draft, for_s: "300", channel_ids: [2, 1] }))).toEqual({ for_s: 300, channel_ids: [1, 2] });
  });

  it("one site: site_id and no labels; threshold fields empty for other kinds", () => {
    const input = ruleInputOf({ ...NEW_RULE, name: "one", scope: "site", site_id: "3", labels: "a=b", sensor_key: "t", min: "1" });
    expect(input).toMatchObject({ site_id: 3, labels: {}, sensor_key: "", min: null, max: null });
  });

  it("reads labels as key=value pairs", () => {
    expect(parseLabels("region=puglia, tier = gold\nzone=")).toEqual({ region: "puglia", tier: "gold", zone: "" });
    expect(parseLabels("=x")).toBeNull();
  });
});

describe("validateChannel and channelBody", () => {
  it("wants an http(s) webhook URL and an Apprise URL with a scheme", () => {
    expect(validateChannel({ ...NEW_CHANNEL, name: "a", url: "ftp://x" })).toEqual({ url: "httpUrl" });
    expect(validateChannel({ ...NEW_CHANNEL, name: "a", url: "not a url" })).toEqual({ url: "httpUrl" });
    expect(validateChannel({ ...NEW_CHANNEL, name: "a", url: "https://hooks.example.com/x" })).toEqual({});
    expect(validateChannel({ ...NEW_CHANNEL, name: "a", kind: "apprise", url: "slack" })).toEqual({ url: "appriseUrl" });
    expect(validateChannel({ ...NEW_CHANNEL, name: "a", kind: "apprise", url: "ntfy://ntfy.sh/topic" })).toEqual({});
    expect(validateChannel({ ...NEW_CHANNEL })).toEqual({ name: "required", url: "required" });
  });

  it("on an edit a blank URL keeps the stored one, unless the kind changes", () => {
    const draft = { ...NEW_CHANNEL, name: "ops hook" };
    expect(validateChannel(draft, channel)).toEqual({});
    expect(validateChannel({ ...draft, kind: "apprise" }, channel)).toEqual({ url: "required" });
    expect(channelBody(draft, channel)).toEqual({});
  });

  it("sends a typed secret, removes one on request, and never sends a blank one", () => {
    expect(channelBody({ ...NEW_CHANNEL, name: "ops hook", secret: "s3cret" }, channel)).toEqual({ secret: "s3cret" });
    expect(channelBody({ ...NEW_CHANNEL, name: "ops hook", clear_secret: true }, channel)).toEqual({ secret: null });
    expect(channelBody({ ...NEW_CHANNEL, name: "new", url: "https://h/x" })).toEqual({
      name: "new",
      kind: "webhook",
      url: "https://h/x",
      is_enabled: true,
    });
  });
});

describe("silences", () => {
  const now = Date.parse("2025-11-11T10:00:00Z");

  it("a silence from an alert names its site and rule and lasts two hours by default", () => {
    const draft = silenceDraft(1, 2, now);
    expect(validateSilence(draft, now)).toEqual({ reason: "required" });
    const input = silenceInputOf({ ...draft, reason: "maintenance" });
    expect(input).toEqual({ site_id: 1, rule_id: 2, until: "2025-11-11T12:00:00Z", reason: "maintenance" });
  });

  it("wants a site or a rule, and a time in the future", () => {
    const draft = { ...silenceDraft(null, null, now), reason: "x" };
    expect(validateSilence(draft, now)).toEqual({ site_id: "silenceScope" });
    expect(validateSilence({ ...silenceDraft(1, null, now - 3 * 3600_000), reason: "x" }, now)).toEqual({ until: "inPast" });
  });
});

describe("fieldErrorsOf", () => {
  const fields = ["name", "kind", "url", "min", "max", "labels"] as const;

  it("puts each part of a 400 under the field it names", () => {
    const error = new ApiError(400, "url: Apprise does not understand this URL; min: a threshold rule needs min or max");
    expect(fieldErrorsOf(error, fields)).toEqual({
      fields: { url: "Apprise does not understand this URL", min: "a threshold rule needs min or max" },
      other: null,
    });
  });

  it("reads nested names as their field, and keeps what names no field of the form", () => {
    const error = new ApiError(400, "labels.region: Expected `str`; foo: unknown field");
    expect(fieldErrorsOf(error, fields)).toEqual({ fields: { labels: "Expected `str`" }, other: "foo: unknown field" });
  });

  it("keeps other failures whole", () => {
    expect(fieldErrorsOf(new ApiError(409, "channel name taken"), fields)).toEqual({ fields: {}, other: "channel name taken" });
    expect(fieldErrorsOf(null, fields)).toEqual({ fields: {}, other: null });
  });
});
