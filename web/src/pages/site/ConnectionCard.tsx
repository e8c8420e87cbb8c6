/**
 * Broker, client id, owner and counters of a site's connection, with its last 24 h and its
 * history.
 */

import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import type { ConnectionEvent, Owner, SiteStatus } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { useTimeFormat } from "../../i18n";
import { useSiteHistory } from "../../hooks/queries";

const EVENT_TONES: Record<ConnectionEvent["kind"], string> = {
  connected: "green",
  lost: "red",
  failed: "red",
  stopped: "grey",
};

/** How many history rows to draw; the rest are one scroll away in the API. */
const TIMELINE_ROWS = 50;

/**
 * A reason worth showing under its event: not empty and not the event's own name again (the
 * server records a stop as kind "stopped" with reason "Stopped").
 */
export function extraReason(event: ConnectionEvent): string {
  const reason = event.reason.trim();
  return reason.toLowerCase() === event.kind ? "" : reason;
}

/** Which instance runs the site, and which of its workers when it has any. */
export function ownerText(owner: Owner | null, t: TFunction): string {
  if (owner === null) return t("cluster.noOwner");
  if (owner.worker === null) return owner.instance_id;
  return t("cluster.ownerWorker", { instance: owner.instance_id, worker: owner.worker });
}

export function ConnectionCard({ site, nowMs }: { site: SiteStatus; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const history = useSiteHistory(site.site_id);
  const h = history.data;
  // Newest first, whatever order the server keeps.
  const events = h ? [...h.events].sort((a, b) => b.at.localeCompare(a.at)).slice(0, TIMELINE_ROWS) : [];
  const ago = (iso: string | null) => format.ago(iso, nowMs) ?? t("common.never");
  return (
    <div className="grid-2">
      <div className="card" data-testid="connection-card">
        <h2>{t("connection.title")}</h2>
        <dl className="facts">
          <dt>{t("connection.broker")}</dt>
          <dd className="mono">
            {site.broker_host}:{site.broker_port}
          </dd>
          <dt>{t("connection.protocol")}</dt>
          <dd>MQTT {site.protocol}</dd>
          <dt>{t("connection.clientId")}</dt>
          <dd className="mono">{site.client_id}</dd>
          <dt>{t("cluster.owner")}</dt>
          <dd data-testid="site-owner">
            {site.owner === null ? (
              <span className="muted">{ownerText(null, t)}</span>
            ) : (
              <Link to="/cluster" className="mono">
                {ownerText(site.owner, t)}
              </Link>
            )}
          </dd>
          <dt>{t("connection.lastConnected")}</dt>
          <dd title={format.dateTime(site.last_connected_at)}>{ago(site.last_connected_at)}</dd>
          <dt>{t("connection.lastHeartbeat")}</dt>
          <dd title={format.dateTime(site.last_heartbeat_at)}>{ago(site.last_heartbeat_at)}</dd>
          <dt>{t("connection.messages")}</dt>
          <dd>{format.number(site.messages_received)}</dd>
          <dt>{t("connection.errors")}</dt>
          <dd>{format.number(site.connection_errors)}</dd>
          <dt>{t("connection.topics")}</dt>
          <dd>
            {site.topics_list.length === 0 ? (
              <span className="muted">{t("connection.noTopics")}</span>
            ) : (
              <ul className="plain mono small">
                {site.topics_list.map((topic) => (
                  <li key={topic}>{topic}</li>
                ))}
              </ul>
            )}
          </dd>
        </dl>
        <div className="stats">
          <div className="stat">
            <span className="stat-value" data-testid="uptime-24h">
              {format.percentOf(h?.last_24h.uptime_percentage)}
            </span>
            <span className="stat-label">{t("connection.uptime24h")}</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.connects ?? "—"}</span>
            <span className="stat-label">{t("connection.connects24h")}</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.drops ?? "—"}</span>
            <span className="stat-label">{t("connection.drops24h")}</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.failures ?? "—"}</span>
            <span className="stat-label">{t("connection.failures24h")}</span>
          </div>
        </div>
      </div>
      <div className="card">
        <h2>{t("connection.history")}</h2>
        <ErrorText error={history.error} />
        {h && h.events.length === 0 && <p className="muted">{t("connection.noHistory")}</p>}
        {h && h.events.length > 0 && (
          <ol className="timeline" data-testid="history-timeline">
            {events.map((event, index) => {
              const why = extraReason(event);
              return (
                // biome-ignore lint/suspicious/noArrayIndexKey: two events can share a time; the list only grows at its head
                <li key={`${event.at}-${index}`} className={`timeline-item ${EVENT_TONES[event.kind] ?? "grey"}`}>
                  <span className="timeline-when" title={format.dateTime(event.at)}>
                    {ago(event.at)}
                  </span>
                  <span className="timeline-what">{t(`connection.events.${event.kind}`)}</span>
                  {why && <span className="timeline-why muted">{why}</span>}
                </li>
              );
            })}
          </ol>
        )}
      </div>
    </div>
  );
}
