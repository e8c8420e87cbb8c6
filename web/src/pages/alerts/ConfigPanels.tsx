/**
 * The Rules, Channels and Silences tabs of the Alerts page: lists, with the editors for
 * admins. Viewers see rules and silences (the API lets them read those); channels are
 * admin-only.
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import type { Channel, ChannelTestResult, Rule, SiteStatus } from "../../api/types";
import { ErrorText, Loading } from "../../components/ErrorText";
import { labelsText } from "../../data/alertForms";
import { queryKeys } from "../../data/queryKeys";
import { useAlertChannels, useAlertRules, useSilences } from "../../hooks/alertQueries";
import { useTimeFormat } from "../../i18n";
import { ChannelForm } from "./ChannelForm";
import { RuleForm } from "./RuleForm";
import { SilenceForm } from "./SilenceForm";

function siteName(sites: ReadonlyMap<number, SiteStatus>, id: number, t: ReturnType<typeof useTranslation>["t"]): string {
  const site = sites.get(id);
  return site ? t("site.named", { name: site.site_name, code: site.code }) : t("site.numbered", { id });
}

function RuleRow({ rule, channels, sites, admin }: { rule: Rule; channels: readonly Channel[]; sites: ReadonlyMap<number, SiteStatus>; admin: boolean }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const remove = useMutation({
    mutationFn: () => api.deleteRule(rule.id),
    onSettled: () => client.invalidateQueries({ queryKey: queryKeys.alertRules() }),
  });
  const scope =
    rule.site_id !== null
      ? siteName(sites, rule.site_id, t)
      : Object.keys(rule.labels).length > 0
        ? t("alerts.rules.scopeLabels", { labels: labelsText(rule.labels) })
        : t("alerts.rules.scopes.all");
  const used = rule.channel_ids.map((id) => channels.find((c) => c.id === id)?.name ?? t("alerts.channelNumbered", { id }));
  return (
    <li className="config-row" data-testid="rule-row" data-name={rule.name}>
      <div className="config-main">
        <strong>{rule.name}</strong> <span className="badge badge-grey">{t(`alerts.kinds.${rule.kind}`)}</span>{" "}
        <span className={`badge ${rule.is_enabled ? "badge-green" : "badge-grey"}`}>
          {rule.is_enabled ? t("alerts.rules.enabled") : t("alerts.rules.disabled")}
        </span>
        <span className="muted small block">
          {scope} · {t("alerts.rules.after", { duration: format.duration(rule.for_s) })}
          {rule.repeat_s > 0 && <> · {t("alerts.rules.repeats", { duration: format.duration(rule.repeat_s) })}</>}
          {rule.kind === "sensor_threshold" && (
            <> · {t("alerts.rules.range", { key: rule.sensor_key, min: rule.min ?? "−∞", max: rule.max ?? "+∞" })}</>
          )}
          {used.length > 0 && <> · {used.join(", ")}</>}
        </span>
        <ErrorText error={remove.error} />
      </div>
      {admin && (
        <div className="toolbar tight">
          <button type="button" className="button ghost" onClick={() => setEditing(!editing)} data-testid="rule-edit">
            {t("common.edit")}
          </button>
          <button
            type="button"
            className="button ghost danger"
            disabled={remove.isPending}
            onClick={() => {
              if (window.confirm(t("alerts.rules.confirmDelete", { name: rule.name }))) remove.mutate();
            }}
            data-testid="rule-delete"
          >
            {t("alerts.rules.delete")}
          </button>
        </div>
      )}
      {editing && (
        <div className="config-edit">
          <RuleForm existing={rule} channels={channels} onDone={() => setEditing(false)} />
        </div>
      )}
    </li>
  );
}

export function RulesPanel({ admin, sites }: { admin: boolean; sites: ReadonlyMap<number, SiteStatus> }) {
  const { t } = useTranslation();
  const rules = useAlertRules();
  const channels = useAlertChannels(admin).data?.channels ?? [];
  const [creating, setCreating] = useState(false);
  return (
    <div className="card">
      <div className="card-head">
        <h2>{t("alerts.tabs.rules")}</h2>
        {admin && !creating && (
          <button type="button" className="button primary" onClick={() => setCreating(true)} data-testid="rule-new">
            {t("alerts.rules.new")}
          </button>
        )}
      </div>
      {creating && <RuleForm channels={channels} onDone={() => setCreating(false)} />}
      {rules.data === undefined ? (
        <Loading error={rules.error} onRetry={() => void rules.refetch()} />
      ) : rules.data.rules.length === 0 ? (
        <p className="muted">{t("alerts.rules.none")}</p>
      ) : (
        <ul className="plain config-list" data-testid="rule-list">
          {rules.data.rules.map((rule) => (
            <RuleRow key={rule.id} rule={rule} channels={channels} sites={sites} admin={admin} />
          ))}
        </ul>
      )}
    </div>
  );
}

function TestOutcome({ result }: { result: ChannelTestResult }) {
  const { t } = useTranslation();
  const ok = result.outcome === "sent" || result.outcome === "ok";
  const outcome = t(`alerts.outcomes.${result.outcome}` as "alerts.outcomes.sent", { defaultValue: result.outcome });
  return (
    <span className={`badge ${ok ? "badge-green" : "badge-red"}`} data-testid="channel-test-result" data-outcome={result.outcome}>
      {result.error ? t("alerts.channels.testError", { outcome, error: result.error }) : t("alerts.channels.testResult", { outcome })}
    </span>
  );
}

function ChannelRow({ channel }: { channel: Channel }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const test = useMutation({ mutationFn: () => api.testChannel(channel.id) });
  const remove = useMutation({
    mutationFn: () => api.deleteChannel(channel.id),
    onSettled: () => client.invalidateQueries({ queryKey: queryKeys.alertChannels() }),
  });
  return (
    <li className="config-row" data-testid="channel-row" data-name={channel.name}>
      <div className="config-main">
        <strong>{channel.name}</strong> <span className="badge badge-grey">{t(`alerts.channels.kinds.${channel.kind}`)}</span>{" "}
        {channel.has_secret && <span className="badge badge-blue">{t("alerts.channels.signed")}</span>}{" "}
        {!channel.is_enabled && <span className="badge badge-grey">{t("alerts.rules.disabled")}</span>}
        <span className="muted small block mono ellipsis">{channel.url}</span>
        {test.data && <TestOutcome result={test.data} />}
        <ErrorText error={test.error ?? remove.error} />
      </div>
      <div className="toolbar tight">
        <button type="button" className="button" disabled={test.isPending} onClick={() => test.mutate()} data-testid="channel-test">
          {test.isPending ? t("alerts.channels.testing") : t("alerts.channels.test")}
        </button>
        <button type="button" className="button ghost" onClick={() => setEditing(!editing)} data-testid="channel-edit">
          {t("common.edit")}
        </button>
        <button
          type="button"
          className="button ghost danger"
          disabled={remove.isPending}
          onClick={() => {
            if (window.confirm(t("alerts.channels.confirmDelete", { name: channel.name }))) remove.mutate();
          }}
          data-testid="channel-delete"
        >
          {t("alerts.channels.delete")}
        </button>
      </div>
      {editing && (
        <div className="config-edit">
          <ChannelForm existing={channel} onDone={() => setEditing(false)} />
        </div>
      )}
    </li>
  );
}

/** Admins only (the page does not offer the tab to viewers). */
export function ChannelsPanel() {
  const { t } = useTranslation();
  const channels = useAlertChannels(true);
  const [creating, setCreating] = useState(false);
  return (
    <div className="card">
      <div className="card-head">
        <h2>{t("alerts.tabs.channels")}</h2>
        {!creating && (
          <button type="button" className="button primary" onClick={() => setCreating(true)} data-testid="channel-new">
            {t("alerts.channels.new")}
          </button>
        )}
      </div>
      {creating && <ChannelForm onDone={() => setCreating(false)} />}
      {channels.data === undefined ? (
        <Loading error={channels.error} onRetry={() => void channels.refetch()} />
      ) : channels.data.channels.length === 0 ? (
        <p className="muted">{t("alerts.channels.none")}</p>
      ) : (
        <ul className="plain config-list" data-testid="channel-list">
          {channels.data.channels.map((channel) => (
            <ChannelRow key={channel.id} channel={channel} />
          ))}
        </ul>
      )}
    </div>
  );
}

export function SilencesPanel({ admin, sites, nowMs }: { admin: boolean; sites: ReadonlyMap<number, SiteStatus>; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const client = useQueryClient();
  const silences = useSilences();
  const rules = useAlertRules().data?.rules ?? [];
  const [creating, setCreating] = useState(false);
  const end = useMutation({
    mutationFn: (id: number) => api.deleteSilence(id),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: queryKeys.alertSilences() });
      void client.invalidateQueries({ queryKey: queryKeys.alertLists() });
    },
  });
  return (
    <div className="card">
      <div className="card-head">
        <h2>{t("alerts.tabs.silences")}</h2>
        {admin && !creating && (
          <button type="button" className="button primary" onClick={() => setCreating(true)} data-testid="silence-new">
            {t("alerts.silences.new")}
          </button>
        )}
      </div>
      {creating && <SilenceForm siteId={null} ruleId={null} onDone={() => setCreating(false)} />}
      <ErrorText error={end.error} />
      {silences.data === undefined ? (
        <Loading error={silences.error} onRetry={() => void silences.refetch()} />
      ) : silences.data.silences.length === 0 ? (
        <p className="muted">{t("alerts.silences.none")}</p>
      ) : (
        <ul className="plain config-list" data-testid="silence-list">
          {silences.data.silences.map((silence) => {
            const over = Date.parse(silence.until) <= nowMs;
            const rule = rules.find((r) => r.id === silence.rule_id);
            return (
              <li key={silence.id} className="config-row" data-testid="silence-row">
                <div className="config-main">
                  <strong>
                    {silence.site_id !== null ? siteName(sites, silence.site_id, t) : t("alerts.silences.anySite")} ·{" "}
                    {silence.rule_id !== null ? (rule?.name ?? `#${silence.rule_id}`) : t("alerts.silences.anyRule")}
                  </strong>{" "}
                  {over && <span className="badge badge-grey">{t("alerts.silences.ended")}</span>}
                  <span className="muted small block">
                    {t("alerts.silences.untilAt", { at: format.dateTime(silence.until) })} ·{" "}
                    {t("alerts.silences.by", { who: silence.created_by })} · {silence.reason}
                  </span>
                </div>
                {admin && !over && (
                  <button
                    type="button"
                    className="button ghost danger"
                    disabled={end.isPending}
                    onClick={() => {
                      if (window.confirm(t("alerts.silences.confirmEnd"))) end.mutate(silence.id);
                    }}
                    data-testid="silence-end"
                  >
                    {t("alerts.silences.end")}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
