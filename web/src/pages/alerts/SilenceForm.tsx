/**
 * Create a silence (admins): a site and/or a rule, until when, and why. Opened from an alert
 * (its site and rule filled in) or from the Silences tab.
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import { silenceDraft, silenceInputOf, validateSilence, type Invalid, type SilenceDraft } from "../../data/alertForms";
import { fieldErrorsOf } from "../../data/fieldErrors";
import { queryKeys } from "../../data/queryKeys";
import { useAlertRules } from "../../hooks/alertQueries";
import { useSites } from "../../hooks/queries";
import { Field } from "./Field";

const FIELDS = ["site_id", "rule_id", "until", "reason"] as const;

export function SilenceForm({ siteId, ruleId, onDone }: { siteId: number | null; ruleId: number | null; onDone: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const sites = useSites().data?.sites ?? [];
  const rules = useAlertRules().data?.rules ?? [];
  const [draft, setDraft] = useState<SilenceDraft>(() => silenceDraft(siteId, ruleId, Date.now()));
  const [invalid, setInvalid] = useState<Invalid>({});
  const set = <K extends keyof SilenceDraft>(key: K, value: SilenceDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const save = useMutation({
    mutationFn: () => api.createSilence(silenceInputOf(draft)),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: queryKeys.alertSilences() });
      void client.invalidateQueries({ queryKey: queryKeys.alertLists() });
      onDone();
    },
  });
  const server = fieldErrorsOf(save.error, FIELDS);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problems = validateSilence(draft, Date.now());
    setInvalid(problems);
    if (Object.keys(problems).length === 0) save.mutate();
  };
  return (
    <form className="form-grid silence-form" onSubmit={submit} noValidate data-testid="silence-form">
      <Field label={t("alerts.silences.site")} field="site_id" invalid={invalid.site_id} server={server.fields.site_id}>
        <select value={draft.site_id} onChange={(e) => set("site_id", e.target.value)} data-testid="silence-site">
          <option value="">{t("alerts.silences.anySite")}</option>
          {sites.map((s) => (
            <option key={s.site_id} value={s.site_id}>
              {t("site.named", { name: s.site_name, code: s.code })}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t("alerts.silences.rule")} field="rule_id" server={server.fields.rule_id}>
        <select value={draft.rule_id} onChange={(e) => set("rule_id", e.target.value)} data-testid="silence-rule">
          <option value="">{t("alerts.silences.anyRule")}</option>
          {rules.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t("alerts.silences.until")} field="until" invalid={invalid.until} server={server.fields.until}>
        <input type="datetime-local" value={draft.until} onChange={(e) => set("until", e.target.value)} data-testid="silence-until" />
      </Field>
      <Field label={t("alerts.silences.reason")} field="reason" invalid={invalid.reason} server={server.fields.reason}>
        <input value={draft.reason} maxLength={500} onChange={(e) => set("reason", e.target.value)} data-testid="silence-reason" />
      </Field>
      <div className="wide form-actions">
        {server.other && (
          <p className="error-text" role="alert">
            {server.other}
          </p>
        )}
        <button type="button" className="button ghost" onClick={onDone}>
          {t("common.cancel")}
        </button>
        <button type="submit" className="button primary" disabled={save.isPending} data-testid="silence-submit">
          {save.isPending ? t("common.saving") : t("alerts.silences.create")}
        </button>
      </div>
    </form>
  );
}
