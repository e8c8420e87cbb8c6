/**
 * Create a site, or edit one's config. On edit only changed fields are sent; the password is
 * write-only: blank keeps the stored one (the form says whether one is stored).
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { api } from "../../api/endpoints";
import type { MqttProtocol, SiteConfig, SiteInput } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { queryKeys } from "../../data/queryKeys";
import { useToastStore } from "../../live/ToastContext";

interface Draft {
  name: string;
  code: string;
  broker_host: string;
  broker_port: string;
  username: string;
  password: string;
  /** Edit only: remove the stored password. */
  clear_password: boolean;
  client_id_prefix: string;
  protocol: MqttProtocol;
  keepalive_s: string;
  tls: boolean;
  tls_ca_pem: string;
  offline_after_s: string;
  is_enabled: boolean;
}

type TextKey = { [K in keyof Draft]: Draft[K] extends string ? K : never }[keyof Draft];

const NEW_SITE: Draft = {
  name: "",
  code: "",
  broker_host: "",
  broker_port: "1883",
  username: "",
  password: "",
  clear_password: false,
  client_id_prefix: "",
  protocol: "3.1.1",
  keepalive_s: "60",
  tls: false,
  tls_ca_pem: "",
  offline_after_s: "180",
  is_enabled: false,
};

function draftOf(config: SiteConfig): Draft {
  return {
    name: config.name,
    code: config.code,
    broker_host: config.broker_host,
    broker_port: String(config.broker_port),
    username: config.username,
    password: "",
    clear_password: false,
    client_id_prefix: config.client_id_prefix,
    protocol: config.protocol,
    keepalive_s: String(config.keepalive_s),
    tls: config.tls,
    tls_ca_pem: config.tls_ca_pem ?? "",
    offline_after_s: String(config.offline_after_s),
    is_enabled: config.is_enabled,
  };
}

/** A number field that does not hold a number goes as null (NaN in JSON), and the server names it. */
function num(text: string): number {
  const trimmed = text.trim();
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : Number.NaN;
}

function toInput(draft: Draft): SiteInput {
  return {
    name: draft.name.trim(),
    code: draft.code.trim(),
    broker_host: draft.broker_host.trim(),
    broker_port: num(draft.broker_port),
    username: draft.username,
    client_id_prefix: draft.client_id_prefix.trim(),
    protocol: draft.protocol,
    keepalive_s: num(draft.keepalive_s),
    tls: draft.tls,
    tls_ca_pem: draft.tls && draft.tls_ca_pem.trim() ? draft.tls_ca_pem : null,
    offline_after_s: num(draft.offline_after_s),
    is_enabled: draft.is_enabled,
    ...(draft.password ? { password: draft.password } : draft.clear_password ? { password: null } : {}),
  };
}

/** For a new site: leave out what the server should default (client id prefix, CA). */
function createBody(input: SiteInput): Partial<SiteInput> {
  const body: Partial<SiteInput> = { ...input };
  if (!body.client_id_prefix) delete body.client_id_prefix;
  if (body.tls_ca_pem === null) delete body.tls_ca_pem;
  return body;
}

/** For an edit: only what changed (and the password, if one was typed or is to be removed). */
export function changedFields(before: SiteConfig, input: SiteInput): Partial<SiteInput> {
  const patch: Partial<SiteInput> = {};
  for (const key of Object.keys(input) as (keyof SiteInput)[]) {
    if (key === "password" || input[key] !== before[key]) Object.assign(patch, { [key]: input[key] });
  }
  return patch;
}

/** What a site code may hold; the server's rule (API.md). */
export const CODE_PATTERN = "[A-Za-z0-9_\\-]{1,64}";

export function SiteForm({ existing, onDone }: { existing?: SiteConfig; onDone: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const toasts = useToastStore();
  const navigate = useNavigate();
  const [draft, setDraft] = useState<Draft>(() => (existing ? draftOf(existing) : NEW_SITE));
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const save = useMutation({
    mutationFn: async (input: SiteInput) => {
      if (existing) {
        await api.patchSite(existing.id, changedFields(existing, input));
        return existing.id;
      }
      return (await api.createSite(createBody(input))).site_id;
    },
    onSuccess: (siteId) => {
      void client.invalidateQueries({ queryKey: queryKeys.siteList() });
      void client.invalidateQueries({ queryKey: queryKeys.site(siteId) });
      toasts.push({ tone: "success", key: existing ? "siteSaved" : "siteCreated", params: { name: draft.name, code: draft.code }, siteId });
      onDone();
      if (!existing) void navigate(`/sites/${siteId}`);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate(toInput(draft));
  };

  const text = (key: TextKey, label: string, props: Record<string, string | boolean> = {}, rule?: string) => (
    <label>
      {label}
      <input
        name={key}
        value={draft[key]}
        onChange={(event) => {
          event.currentTarget.setCustomValidity("");
          set(key, event.target.value);
        }}
        // The browser's own words ("Please match the requested format") do not say what is
        // allowed; the rule does.
        onInvalid={rule ? (event) => event.currentTarget.setCustomValidity(rule) : undefined}
        title={rule}
        data-testid={`site-form-${key}`}
        {...props}
      />
      {rule && <span className="hint">{rule}</span>}
    </label>
  );

  return (
    <form className="form-grid" onSubmit={submit} data-testid="site-form">
      {text("name", t("siteForm.name"), { required: true })}
      {text("code", t("siteForm.code"), { required: true, pattern: CODE_PATTERN }, t("siteForm.codeRule"))}
      {text("broker_host", t("siteForm.brokerHost"), { required: true })}
      {text("broker_port", t("siteForm.brokerPort"), { inputMode: "numeric" })}
      {text("username", t("siteForm.username"), { autoComplete: "off" })}
      <div className="field">
        <label>
          {t("siteForm.password")}
          <input
            type="password"
            name="password"
            autoComplete="new-password"
            value={draft.password}
            placeholder={existing?.has_password ? t("siteForm.passwordStored") : t("siteForm.passwordNone")}
            onChange={(event) => set("password", event.target.value)}
            data-testid="site-form-password"
          />
        </label>
        {existing && !existing.has_password && <span className="hint">{t("siteForm.noPassword")}</span>}
        {existing?.has_password && (
          <label className="check hint">
            <input
              type="checkbox"
              checked={draft.clear_password}
              disabled={draft.password !== ""}
              onChange={(event) => set("clear_password", event.target.checked)}
            />
            {t("siteForm.removePassword")}
          </label>
        )}
      </div>
      {text("client_id_prefix", t("siteForm.clientIdPrefix"), { placeholder: t("siteForm.instanceId") })}
      <label>
        {t("connection.protocol")}
        <select value={draft.protocol} onChange={(event) => set("protocol", event.target.value as MqttProtocol)}>
          <option value="3.1.1">MQTT 3.1.1</option>
          <option value="5">MQTT 5</option>
        </select>
      </label>
      {text("keepalive_s", t("siteForm.keepalive"), { inputMode: "numeric" })}
      {text("offline_after_s", t("siteForm.offlineAfter"), { inputMode: "numeric" })}
      <label className="check">
        <input type="checkbox" checked={draft.tls} onChange={(event) => set("tls", event.target.checked)} /> TLS
      </label>
      {!existing && (
        <label className="check">
          <input type="checkbox" checked={draft.is_enabled} onChange={(event) => set("is_enabled", event.target.checked)} />{" "}
          {t("siteForm.startNow")}
        </label>
      )}
      {draft.tls && (
        <label className="wide">
          {t("siteForm.ca")}
          <textarea rows={4} value={draft.tls_ca_pem} onChange={(event) => set("tls_ca_pem", event.target.value)} />
        </label>
      )}
      <div className="wide form-actions">
        <ErrorText error={save.error} />
        <button type="button" className="button ghost" onClick={onDone}>
          {t("common.cancel")}
        </button>
        <button type="submit" className="button primary" disabled={save.isPending} data-testid="site-form-submit">
          {save.isPending ? t("common.saving") : existing ? t("common.save") : t("siteForm.create")}
        </button>
      </div>
    </form>
  );
}
