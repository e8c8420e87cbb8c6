/** Broker, client id and counters of a site's connection, with its last 24 h and its history. */

import type { ConnectionEvent, SiteStatus } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { formatAgo, formatDateTime, formatPercent } from "../../format/time";
import { useSiteHistory } from "../../hooks/queries";

const EVENT_WORDS: Record<ConnectionEvent["kind"], string> = {
  connected: "Connected",
  lost: "Connection lost",
  failed: "Connect failed",
  stopped: "Stopped",
};

const EVENT_TONES: Record<ConnectionEvent["kind"], string> = {
  connected: "green",
  lost: "red",
  failed: "red",
  stopped: "grey",
};

/** How many history rows to draw; the rest are one scroll away in the API. */
const TIMELINE_ROWS = 50;

export function ConnectionCard({ site, nowMs }: { site: SiteStatus; nowMs: number }) {
  const history = useSiteHistory(site.site_id);
  const h = history.data;
  // Newest first, whatever order the server keeps.
  const events = h ? [...h.events].sort((a, b) => b.at.localeCompare(a.at)).slice(0, TIMELINE_ROWS) : [];
  return (
    <div className="grid-2">
      <div className="card" data-testid="connection-card">
        <h2>Connection</h2>
        <dl className="facts">
          <dt>Broker</dt>
          <dd className="mono">
            {site.broker_host}:{site.broker_port}
          </dd>
          <dt>Protocol</dt>
          <dd>MQTT {site.protocol}</dd>
          <dt>Client id</dt>
          <dd className="mono">{site.client_id}</dd>
          <dt>Last connected</dt>
          <dd title={formatDateTime(site.last_connected_at)}>{formatAgo(site.last_connected_at, nowMs)}</dd>
          <dt>Last heartbeat</dt>
          <dd title={formatDateTime(site.last_heartbeat_at)}>{formatAgo(site.last_heartbeat_at, nowMs)}</dd>
          <dt>Messages</dt>
          <dd>{site.messages_received.toLocaleString()}</dd>
          <dt>Errors</dt>
          <dd>{site.connection_errors}</dd>
          <dt>Topics</dt>
          <dd>
            {site.topics_list.length === 0 ? (
              <span className="muted">none subscribed</span>
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
              {formatPercent(h?.last_24h.uptime_percentage)}
            </span>
            <span className="stat-label">uptime 24 h</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.connects ?? "—"}</span>
            <span className="stat-label">connects 24 h</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.drops ?? "—"}</span>
            <span className="stat-label">drops 24 h</span>
          </div>
          <div className="stat">
            <span className="stat-value">{h?.last_24h.failures ?? "—"}</span>
            <span className="stat-label">failed attempts 24 h</span>
          </div>
        </div>
      </div>
      <div className="card">
        <h2>History</h2>
        <ErrorText error={history.error} />
        {h && h.events.length === 0 && <p className="muted">No connection events yet.</p>}
        {h && h.events.length > 0 && (
          <ol className="timeline" data-testid="history-timeline">
            {events.map((event, index) => (
              <li key={`${event.at}-${index}`} className={`timeline-item ${EVENT_TONES[event.kind] ?? "grey"}`}>
                <span className="timeline-when" title={formatDateTime(event.at)}>
                  {formatAgo(event.at, nowMs)}
                </span>
                <span className="timeline-what">{EVENT_WORDS[event.kind] ?? event.kind}</span>
                {event.reason && <span className="timeline-why muted">{event.reason}</span>}
              </li>
            ))}
          </ol>
        )}
      </div>
    </div>
  );
}
