/**
 * Create or edit an alert rule (admins). Checks what it can before sending
 * (data/alertForms.ts); the server's 400s show under the field they name.
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import { RULE_KINDS, type Channel, type Rule, type RuleKind } from "../../api/types";
import {
  NEW_RULE,
  ruleChanges,
  ruleDraftOf,
  ruleInputOf,
  validateRule,
  type Invalid,
  type RuleDraft,
  type RuleScope,
} from "../../data/alertForms";
import { fieldErrorsOf } from "../../data/fieldErrors";
import { queryKeys } from "../../data/queryKeys";
import { useSites } from "../../hooks/queries";
import { Field } from "./Field";

const FIELDS = [
  "name",
  "kind",
  "site_id",
  "labels",
  "for_s",
  "repeat_s",
  "notify_resolved",
  "channel_ids",
  "is_enabled",
  "sensor_key",
  "model",
  "min",
  "max",
] as const;

const SCOPES: readonly RuleScope[] = ["all", "site", "labels"];

export function RuleForm({ existing, channels, onDone }: { existing?: Rule; channels: readonly Channel[]; onDone: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const sites = useSites().data?.sites ?? [];
  const [draft, setDraft] = useState<RuleDraft>(() => (existing ? ruleDraftOf(existing) : NEW_RULE));
  const [invalid, setInvalid] = useState<Invalid>({});
  const set = <K extends keyof RuleDraft>(key: K, value: RuleDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const save = useMutation({
    mutationFn: async () => {
      const input = ruleInputOf(draft);
      if (existing) await api.patchRule(existing.id, ruleChanges(existing, input));
      else await api.createRule(input);
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: queryKeys.alertRules() });
      onDone();
    },
  });
  const server = fieldErrorsOf(save.error, FIELDS);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problems = validateRule(draft);
    setInvalid(problems);
    if (Object.keys(problems).length === 0) save.mutate();
  };
  const text = (key: "name" | "for_s" | "repeat_s" | "sensor_key" | "model" | "min" | "max", label: string, hint?: string) => (
    <Field label={label} field={key} invalid={invalid[key]} server={server.fields[key]} hint={hint}>
      <input
        value={draft[key]}
        inputMode={key === "name" || key === "sensor_key" || key === "model" ? undefined : "decimal"}
        onChange={(e) => set(key, e.target.value)}
        data-testid={`rule-${key}`}
      />
    </Field>
  );
  return (
    <form className="form-grid" onSubmit={submit} noValidate data-testid="rule-form">
      {text("name", t("alerts.rules.name"))}
      <Field label={t("alerts.rules.kind")} field="kind" server={server.fields.kind}>
        <select value={draft.kind} onChange={(e) => set("kind", e.target.value as RuleKind)} data-testid="rule-kind">
          {RULE_KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {t(`alerts.kinds.${kind}`)}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t("alerts.rules.scope")} field="scope">
        <select value={draft.scope} onChange={(e) => set("scope", e.target.value as RuleScope)} data-testid="rule-scope">
          {SCOPES.map((scope) => (
            <option key={scope} value={scope}>
              {t(`alerts.rules.scopes.${scope}`)}
            </option>
          ))}
        </select>
      </Field>
      {draft.scope === "site" && (
        <Field label={t("alerts.rules.site")} field="site_id" invalid={invalid.site_id} server={server.fields.site_id}>
          <select value={draft.site_id} onChange={(e) => set("site_id", e.target.value)} data-testid="rule-site">
            <option value="">{t("alerts.rules.chooseSite")}</option>
            {sites.map((s) => (
              <option key={s.site_id} value={s.site_id}>
                {t("site.named", { name: s.site_name, code: s.code })}
              </option>
            ))}
          </select>
        </Field>
      )}
      {draft.scope === "labels" && (
        <Field
          label={t("alerts.rules.labels")}
          field="labels"
          invalid={invalid.labels}
          server={server.fields.labels}
          hint={t("alerts.rules.labelsHint")}
        >
          <input value={draft.labels} onChange={(e) => set("labels", e.target.value)} placeholder="region=puglia" data-testid="rule-labels" />
        </Field>
      )}
      {text("for_s", t("alerts.rules.forS"), t("alerts.rules.forHint"))}
      {text("repeat_s", t("alerts.rules.repeatS"), t("alerts.rules.repeatHint"))}
      {draft.kind === "sensor_threshold" && (
        <>
          {text("sensor_key", t("alerts.rules.sensorKey"))}
          {text("model", t("alerts.rules.model"))}
          {text("min", t("alerts.rules.min"))}
          {text("max", t("alerts.rules.max"))}
        </>
      )}
      <fieldset className="wide channel-picks" data-testid="rule-channels">
        <legend>{t("alerts.rules.channels")}</legend>
        {channels.length === 0 && <span className="muted small">{t("alerts.rules.noChannels")}</span>}
        {channels.map((channel) => (
          <label key={channel.id} className="check">
            <input
              type="checkbox"
              checked={draft.channel_ids.includes(channel.id)}
              onChange={(e) =>
                set(
                  "channel_ids",
                  e.target.checked ? [...draft.channel_ids, channel.id] : draft.channel_ids.filter((id) => id !== channel.id),
                )
              }
              data-testid={`rule-channel-${channel.name}`}
            />
            {channel.name}
          </label>
        ))}
        {server.fields.channel_ids && <span className="field-error">{server.fields.channel_ids}</span>}
      </fieldset>
      <label className="check">
        <input type="checkbox" checked={draft.notify_resolved} onChange={(e) => set("notify_resolved", e.target.checked)} />
        {t("alerts.rules.notifyResolved")}
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.is_enabled} onChange={(e) => set("is_enabled", e.target.checked)} data-testid="rule-enabled" />
        {t("alerts.rules.enabledCheck")}
      </label>
      <div className="wide form-actions">
        {server.other && (
          <p className="error-text" role="alert" data-testid="rule-error">
            {server.other}
          </p>
        )}
        <button type="button" className="button ghost" onClick={onDone}>
          {t("common.cancel")}
        </button>
        <button type="submit" className="button primary" disabled={save.isPending} data-testid="rule-submit">
          {save.isPending ? t("common.saving") : existing ? t("common.save") : t("alerts.rules.create")}
        </button>
      </div>
    </form>
  );
}
