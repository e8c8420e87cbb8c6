/**
 * One alert on the Alerts page: its state, message, site and device, how long it has lasted
 * (ticking while it lasts), who acknowledged it, and each notification with its attempts.
 * Admins acknowledge a firing alert or silence its site and rule from here.
 */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api } from "../../api/endpoints";
import { parseAlert } from "../../api/alertEvents";
import type { Alert, AlertFilter, AlertsResponse, Channel, Rule, SiteStatus } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { alertDurationS, applyAlertToList } from "../../data/alerts";
import { queryKeys } from "../../data/queryKeys";
import { useTimeFormat } from "../../i18n";
import { SilenceForm } from "./SilenceForm";

const STATE_TONE = { firing: "badge-red", pending: "badge-amber", resolved: "badge-grey" } as const;

export interface Names {
  sites: ReadonlyMap<number, SiteStatus>;
  rules: ReadonlyMap<number, Rule>;
  channels: ReadonlyMap<number, Channel>;
}

/**
 * The alert's device. Gateways and dataloggers share ids, and only dataloggers have a page:
 * the link is offered when the site's datalogger list (cached, not polled from here) has it.
 */
function DeviceLink({ siteId, deviceId }: { siteId: number; deviceId: number }) {
  const { t } = useTranslation();
  const dataloggers = useQuery({
    queryKey: queryKeys.dataloggerList(siteId),
    queryFn: ({ signal }) => api.dataloggers(siteId, signal),
    staleTime: 60_000,
  }).data?.dataloggers;
  const device = dataloggers?.find((d) => d.id === deviceId);
  if (device === undefined) return <span>{t("alerts.device", { id: deviceId })}</span>;
  return <Link to={`/dataloggers/${deviceId}`}>{device.label || device.serial_number}</Link>;
}

function Notifications({ alert, names }: { alert: Alert; names: Names }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  if (alert.notifications.length === 0) return <p className="muted small">{t("alerts.noNotifications")}</p>;
  return (
    <details className="notifications" data-testid="alert-notifications">
      <summary>{t("alerts.notifications", { count: alert.notifications.length })}</summary>
      <ul className="plain notification-list">
        {alert.notifications.map((n) => (
          <li key={`${n.channel_id}-${n.transition ?? ""}-${n.at}`} className="notification" data-testid="notification" data-outcome={n.outcome}>
            <span className="notification-channel">
              {names.channels.get(n.channel_id)?.name ?? t("alerts.channelNumbered", { id: n.channel_id })}
            </span>
            <span className={`badge ${n.outcome === "sent" ? "badge-green" : n.outcome === "failed" ? "badge-red" : "badge-blue"}`}>
              {t(`alerts.outcomes.${n.outcome}` as "alerts.outcomes.sent", { defaultValue: n.outcome })}
            </span>
            <span className="muted small">
              {format.shortDateTime(n.at)} · {t("alerts.attempts")}: {format.number(n.attempts)}
            </span>
            {n.error && <span className="error-text small notification-error">{n.error}</span>}
            {n.history && n.history.length > 1 && (
              <ol className="attempt-list muted small" data-testid="notification-attempts">
                {n.history.map((a) => (
                  <li key={a.at}>
                    {format.shortDateTime(a.at)} · {t(`alerts.outcomes.${a.outcome}` as "alerts.outcomes.sent", { defaultValue: a.outcome })}
                    {a.duration_ms !== undefined && <> · {format.number(a.duration_ms)} ms</>}
                    {a.error && <> · {a.error}</>}
                  </li>
                ))}
              </ol>
            )}
          </li>
        ))}
      </ul>
    </details>
  );
}

export function AlertItem({
  alert,
  names,
  admin,
  nowMs,
  highlighted,
}: {
  alert: Alert;
  names: Names;
  admin: boolean;
  nowMs: number;
  highlighted: boolean;
}) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const client = useQueryClient();
  const [silencing, setSilencing] = useState(false);
  const ack = useMutation({
    mutationFn: () => api.ackAlert(alert.id),
    onSuccess: (answer) => {
      // When the answer is the alert, it shows at once, as its event would; the refetch confirms.
      const acked = parseAlert(answer);
      if (acked !== null) {
        for (const { queryKey } of client.getQueryCache().findAll({ queryKey: queryKeys.alertLists() })) {
          client.setQueryData<AlertsResponse>(queryKey, (list) => applyAlertToList(list, queryKey[2] as AlertFilter, acked));
        }
      }
      void client.invalidateQueries({ queryKey: queryKeys.alertLists() });
    },
  });
  const site = alert.site_id === null ? undefined : names.sites.get(alert.site_id);
  const rule = alert.rule_id === null ? undefined : names.rules.get(alert.rule_id);
  const lasting = alert.state !== "resolved";
  const duration = format.duration(alertDurationS(alert, nowMs));
  return (
    <li
      id={`alert-${alert.id}`}
      className={`alert-item alert-${alert.state}${highlighted ? " highlighted" : ""}`}
      data-testid="alert-item"
      data-state={alert.state}
      data-alert-id={alert.id}
    >
      <div className="alert-top">
        <span className={`badge ${STATE_TONE[alert.state]}`} data-testid="alert-state">
          {t(`alerts.states.${alert.state}`)}
        </span>
        <span className="badge badge-grey">{t(`alerts.kinds.${alert.kind}`, { defaultValue: alert.kind })}</span>
        {alert.silenced && <span className="badge badge-blue">{t("alerts.silenced")}</span>}
        {alert.acknowledged_at && <span className="badge badge-green">{t("alerts.acknowledged")}</span>}
        <span className="alert-duration" data-testid="alert-duration" title={format.dateTime(alert.started_at)}>
          {t(lasting ? "alerts.lasting" : "alerts.lasted", { duration })}
        </span>
      </div>
      <p className="alert-message" data-testid="alert-message">
        {alert.message || t(`alerts.kinds.${alert.kind}`, { defaultValue: alert.kind })}
      </p>
      <p className="muted small alert-facts">
        {alert.site_id !== null && (
          <Link to={`/sites/${alert.site_id}`}>
            {site ? t("site.named", { name: site.site_name, code: site.code }) : t("site.numbered", { id: alert.site_id })}
          </Link>
        )}
        {alert.device_id !== null && (
          <>
            {" · "}
            {alert.site_id === null ? t("alerts.device", { id: alert.device_id }) : <DeviceLink siteId={alert.site_id} deviceId={alert.device_id} />}
          </>
        )}
        {rule && <> · {rule.name}</>}
        {" · "}
        {t("alerts.started", { at: format.shortDateTime(alert.started_at) })}
        {alert.fired_at && <> · {t("alerts.fired", { at: format.shortDateTime(alert.fired_at) })}</>}
        {alert.resolved_at && <> · {t("alerts.resolvedAt", { at: format.shortDateTime(alert.resolved_at) })}</>}
        {alert.acknowledged_at && (
          <> · {t("alerts.acknowledgedBy", { who: alert.acknowledged_by ?? "—", at: format.shortDateTime(alert.acknowledged_at) })}</>
        )}
      </p>
      <Notifications alert={alert} names={names} />
      {admin && lasting && (
        <div className="toolbar tight alert-actions">
          {alert.state === "firing" && !alert.acknowledged_at && (
            <button type="button" className="button" disabled={ack.isPending} onClick={() => ack.mutate()} data-testid="alert-ack">
              {t("alerts.acknowledge")}
            </button>
          )}
          {!silencing && (
            <button type="button" className="button ghost" onClick={() => setSilencing(true)} data-testid="alert-silence">
              {t("alerts.silence")}
            </button>
          )}
          <ErrorText error={ack.error} />
        </div>
      )}
      {silencing && <SilenceForm siteId={alert.site_id} ruleId={alert.rule_id} onDone={() => setSilencing(false)} />}
    </li>
  );
}
