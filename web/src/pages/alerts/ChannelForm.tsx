/**
 * Create or edit a notification channel (admins). The URL and the secret are write-only: on an
 * edit, blank keeps what is stored (the server shows the URL without its credentials, and
 * the secret only as "signed").
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import { CHANNEL_KINDS, type Channel, type ChannelInput, type ChannelKind } from "../../api/types";
import { channelBody, channelDraftOf, NEW_CHANNEL, validateChannel, type ChannelDraft, type Invalid } from "../../data/alertForms";
import { fieldErrorsOf } from "../../data/fieldErrors";
import { queryKeys } from "../../data/queryKeys";
import { Field } from "./Field";

const FIELDS = ["name", "kind", "url", "secret", "is_enabled"] as const;

export function ChannelForm({ existing, onDone }: { existing?: Channel; onDone: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [draft, setDraft] = useState<ChannelDraft>(() => (existing ? channelDraftOf(existing) : NEW_CHANNEL));
  const [invalid, setInvalid] = useState<Invalid>({});
  const set = <K extends keyof ChannelDraft>(key: K, value: ChannelDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const save = useMutation({
    mutationFn: async () => {
      const body = channelBody(draft, existing);
      if (existing) await api.patchChannel(existing.id, body);
      else await api.createChannel(body as ChannelInput);
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: queryKeys.alertChannels() });
      onDone();
    },
  });
  const server = fieldErrorsOf(save.error, FIELDS);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problems = validateChannel(draft, existing);
    setInvalid(problems);
    if (Object.keys(problems).length === 0) save.mutate();
  };
  const webhook = draft.kind === "webhook";
  return (
    <form className="form-grid" onSubmit={submit} noValidate data-testid="channel-form">
      <Field label={t("alerts.channels.name")} field="name" invalid={invalid.name} server={server.fields.name}>
        <input value={draft.name} onChange={(e) => set("name", e.target.value)} data-testid="channel-name" />
      </Field>
      <Field label={t("alerts.channels.kind")} field="kind" server={server.fields.kind}>
        <select value={draft.kind} onChange={(e) => set("kind", e.target.value as ChannelKind)} data-testid="channel-kind">
          {CHANNEL_KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {t(`alerts.channels.kinds.${kind}`)}
            </option>
          ))}
        </select>
      </Field>
      <Field
        label={t("alerts.channels.url")}
        field="url"
        invalid={invalid.url}
        server={server.fields.url}
        hint={existing ? t("alerts.channels.urlNow", { url: existing.url }) : webhook ? undefined : t("alerts.channels.appriseHint")}
        wide
      >
        <input
          value={draft.url}
          autoComplete="off"
          placeholder={existing ? t("alerts.channels.urlStored") : webhook ? "https://" : "ntfy://"}
          onChange={(e) => set("url", e.target.value)}
          data-testid="channel-url"
        />
      </Field>
      {webhook && (
        <div className="field">
          <Field label={t("alerts.channels.secret")} field="secret" server={server.fields.secret}>
            <input
              type="password"
              autoComplete="new-password"
              value={draft.secret}
              placeholder={existing?.has_secret ? t("alerts.channels.secretStored") : t("alerts.channels.secretNone")}
              onChange={(e) => set("secret", e.target.value)}
              data-testid="channel-secret"
            />
          </Field>
          {existing?.has_secret && (
            <label className="check hint">
              <input
                type="checkbox"
                checked={draft.clear_secret}
                disabled={draft.secret !== ""}
                onChange={(e) => set("clear_secret", e.target.checked)}
              />
              {t("alerts.channels.removeSecret")}
            </label>
          )}
        </div>
      )}
      <label className="check">
        <input type="checkbox" checked={draft.is_enabled} onChange={(e) => set("is_enabled", e.target.checked)} />
        {t("alerts.channels.enabled")}
      </label>
      <div className="wide form-actions">
        {server.other && (
          <p className="error-text" role="alert" data-testid="channel-error">
            {server.other}
          </p>
        )}
        <button type="button" className="button ghost" onClick={onDone}>
          {t("common.cancel")}
        </button>
        <button type="submit" className="button primary" disabled={save.isPending} data-testid="channel-submit">
          {save.isPending ? t("common.saving") : existing ? t("common.save") : t("alerts.channels.create")}
        </button>
      </div>
    </form>
  );
}
