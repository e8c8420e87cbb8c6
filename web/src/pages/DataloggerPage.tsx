/** One datalogger: its sensors with current values and charts, availability history, settings. */

import { useState } from "react";
import { Link, useParams } from "react-router";
import type { DataloggerDetail, Sensor } from "../api/types";
import { useIsAdmin } from "../auth/useAuth";
import { AvailabilityBadge } from "../components/AvailabilityBadge";
import { Loading } from "../components/ErrorText";
import { SensorChart } from "../components/SensorChart";
import { formatAgo, formatDateTime, formatDuration, formatPercent } from "../format/time";
import { useDatalogger, useReadings, useSensors, useSiteStatus } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { AvailabilityHistory } from "./datalogger/AvailabilityHistory";
import { DataloggerSettings } from "./datalogger/DataloggerSettings";

const WINDOWS: readonly { label: string; seconds: number }[] = [
  { label: "1 h", seconds: 3600 },
  { label: "6 h", seconds: 6 * 3600 },
  { label: "24 h", seconds: 24 * 3600 },
  { label: "7 d", seconds: 7 * 24 * 3600 },
];

function formatValue(value: number | null): string {
  if (value === null) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) >= 100 ? 1 : 2);
}

function SensorCard({ sensor, windowS, nowMs }: { sensor: Sensor; windowS: number; nowMs: number }) {
  const readings = useReadings(sensor.id, windowS);
  return (
    <div className="card sensor" data-testid="sensor-card" data-key={sensor.key}>
      <div className="sensor-head">
        <div>
          <h3>{sensor.label || sensor.key}</h3>
          <span className="muted small mono">
            {sensor.key}
            {sensor.sensor_type ? ` · ${sensor.sensor_type}` : ""}
          </span>
        </div>
        <div className="sensor-value">
          <span className="value" data-testid="sensor-value">
            {formatValue(sensor.current_value)}
          </span>
          <span className="unit">{sensor.unit_of_measure}</span>
          <span className="muted small block" title={formatDateTime(sensor.updated_at)}>
            {formatAgo(sensor.updated_at, nowMs)}
          </span>
        </div>
      </div>
      {readings.data === undefined ? (
        <Loading error={readings.error} what="readings" />
      ) : readings.data.readings.length === 0 ? (
        <p className="muted small chart-empty">No readings in this window.</p>
      ) : (
        <>
          <SensorChart readings={readings.data.readings} unit={sensor.unit_of_measure} label={sensor.label || sensor.key} />
          {readings.data.truncated && <p className="muted small">Showing the oldest readings of the window; pick a shorter one.</p>}
        </>
      )}
    </div>
  );
}

function SiteCrumb({ siteId }: { siteId: number }) {
  const site = useSiteStatus(siteId).data;
  return <Link to={`/sites/${siteId}`}>{site ? site.site_name : `Site ${siteId}`}</Link>;
}

function Facts({ device, nowMs }: { device: DataloggerDetail; nowMs: number }) {
  return (
    <dl className="facts">
      <dt>Model</dt>
      <dd>{device.model}</dd>
      <dt>Gateway</dt>
      <dd>{device.gateway || "—"}</dd>
      <dt>Firmware</dt>
      <dd>{device.firmware_version ?? "—"}</dd>
      <dt>Uptime 24 h</dt>
      <dd>{formatPercent(device.uptime_percentage)}</dd>
      <dt>Last seen</dt>
      <dd title={formatDateTime(device.last_seen_at)}>{formatAgo(device.last_seen_at, nowMs)}</dd>
      <dt>Discovered</dt>
      <dd>{formatDateTime(device.discovered_at)}</dd>
      <dt>Offline after</dt>
      <dd>{device.offline_after_s === null ? "site default" : formatDuration(device.offline_after_s)}</dd>
    </dl>
  );
}

export function DataloggerPage() {
  const id = Number(useParams().dataloggerId);
  const device = useDatalogger(id);
  const sensors = useSensors(id);
  const admin = useIsAdmin();
  const now = useNow(1000);
  const [windowS, setWindowS] = useState(3600);

  const d = device.data;
  if (d === undefined) {
    return (
      <section>
        <p className="crumbs">
          <Link to="/">← Fleet</Link>
        </p>
        <Loading error={device.error} what="datalogger" />
      </section>
    );
  }
  // The sensors endpoint is polled for fresh values; the detail's list fills in until it answers.
  // Sorted by key, so that cards keep their places whatever order the server lists them in.
  const sensorList = [...(sensors.data?.sensors ?? d.sensors)].sort((a, b) => a.key.localeCompare(b.key));

  return (
    <section>
      <p className="crumbs">
        <Link to="/">Fleet</Link> / <SiteCrumb siteId={d.site_id} />
      </p>
      <div className="page-head">
        <h1>
          {d.label || d.serial_number} <span className="muted mono">{d.label ? d.serial_number : d.model}</span>
        </h1>
        <AvailabilityBadge availability={d.availability} />
      </div>
      <div className="grid-2">
        <div className="card">
          <h2>Device</h2>
          <Facts device={d} nowMs={now} />
          {admin && <DataloggerSettings device={d} />}
        </div>
        <div className="card">
          <h2>Availability</h2>
          <AvailabilityHistory intervals={d.availability_history} nowMs={now} />
        </div>
      </div>
      <div className="page-head">
        <h2>Sensors <span className="count">{sensorList.length}</span></h2>
        <div className="chips" role="group" aria-label="Chart window">
          {WINDOWS.map((w) => (
            <button
              key={w.seconds}
              type="button"
              className={`chip${w.seconds === windowS ? " active" : ""}`}
              onClick={() => setWindowS(w.seconds)}
            >
              {w.label}
            </button>
          ))}
        </div>
      </div>
      {sensorList.length === 0 ? (
        <p className="muted">This datalogger has reported no sensors yet.</p>
      ) : (
        <div className="sensor-grid">
          {sensorList.map((sensor) => (
            <SensorCard key={sensor.id} sensor={sensor} windowS={windowS} nowMs={now} />
          ))}
        </div>
      )}
    </section>
  );
}
