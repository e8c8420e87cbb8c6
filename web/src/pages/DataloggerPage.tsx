/** One datalogger: its sensors with current values and charts, availability history, settings. */

import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api } from "../api/endpoints";
import type { DataloggerDetail, Sensor } from "../api/types";
import { useIsAdmin } from "../auth/useAuth";
import { AlertBadges } from "../components/AlertBadges";
import { DeviceAvailability } from "../components/AvailabilityBadge";
import { Loading } from "../components/ErrorText";
import { SensorChart } from "../components/SensorChart";
import { useTimeFormat } from "../i18n";
import { useDatalogger, useReadings, useSensors, useSiteStatus } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { AvailabilityHistory } from "./datalogger/AvailabilityHistory";
import { DataloggerSettings } from "./datalogger/DataloggerSettings";

const WINDOWS: readonly number[] = [3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600];

/** A sensor value in the locale's digits: 2 decimals, 1 from 100 up, none for whole numbers. */
function formatValue(value: number | null, locale: string): string {
  if (value === null) return "—";
  const digits = Number.isInteger(value) ? 0 : Math.abs(value) >= 100 ? 1 : 2;
  return value.toLocaleString(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

function SensorCard({ sensor, windowS, nowMs }: { sensor: Sensor; windowS: number; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
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
            {formatValue(sensor.current_value, format.locale)}
          </span>
          <span className="unit">{sensor.unit_of_measure}</span>
          <span className="muted small block" title={format.dateTime(sensor.updated_at)}>
            {format.ago(sensor.updated_at, nowMs) ?? t("common.never")}
          </span>
        </div>
      </div>
      {readings.data === undefined ? (
        <Loading error={readings.error} onRetry={() => void readings.refetch()} />
      ) : readings.data.readings.length === 0 ? (
        <p className="muted small chart-empty">{t("datalogger.noReadings")}</p>
      ) : (
        <>
          <SensorChart
            readings={readings.data.readings}
            band={readings.data.low && readings.data.high ? { low: readings.data.low, high: readings.data.high } : undefined}
            unit={sensor.unit_of_measure}
            label={sensor.label || sensor.key}
            windowS={windowS}
            nowMs={nowMs}
          />
          {readings.data.truncated && <p className="muted small">{t("datalogger.truncated")}</p>}
        </>
      )}
      <div className="sensor-foot">
        <span className="muted small">
          {readings.data?.bucketS ? t("datalogger.average", { duration: format.duration(readings.data.bucketS) }) : ""}
        </span>
        <a
          className="button ghost small-button"
          href={api.readingsCsvUrl(sensor.id, new Date(nowMs - windowS * 1000).toISOString(), new Date(nowMs).toISOString())}
          download
          data-testid="readings-csv"
          aria-label={t("datalogger.exportLabel", { name: sensor.label || sensor.key })}
        >
          {t("datalogger.exportCsv")}
        </a>
      </div>
    </div>
  );
}

function SiteCrumb({ siteId }: { siteId: number }) {
  const { t } = useTranslation();
  const site = useSiteStatus(siteId).data;
  return (
    <Link to={`/sites/${siteId}`}>{site ? t("site.named", { name: site.site_name, code: site.code }) : t("site.numbered", { id: siteId })}</Link>
  );
}

function Facts({ device, nowMs }: { device: DataloggerDetail; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  return (
    <dl className="facts">
      <dt>{t("devices.model")}</dt>
      <dd>{device.model}</dd>
      <dt>{t("devices.gateway")}</dt>
      <dd>{device.gateway || "—"}</dd>
      <dt>{t("devices.firmware")}</dt>
      <dd>{device.firmware_version ?? "—"}</dd>
      <dt>{t("devices.uptime24h")}</dt>
      <dd>{format.percentOf(device.uptime_percentage)}</dd>
      <dt>{t("devices.lastSeen")}</dt>
      <dd title={format.dateTime(device.last_seen_at)}>{format.ago(device.last_seen_at, nowMs) ?? t("common.never")}</dd>
      <dt>{t("datalogger.discovered")}</dt>
      <dd>{format.dateTime(device.discovered_at)}</dd>
      <dt>{t("datalogger.offlineAfter")}</dt>
      <dd>{device.offline_after_s === null ? t("datalogger.siteDefault") : format.duration(device.offline_after_s)}</dd>
    </dl>
  );
}

export function DataloggerPage() {
  const { t } = useTranslation();
  const format = useTimeFormat();
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
          <Link to="/">← {t("nav.fleet")}</Link>
        </p>
        <Loading error={device.error} onRetry={() => void device.refetch()} />
      </section>
    );
  }
  // The sensors endpoint is polled for fresh values; the detail's list fills in until it answers.
  // Sorted by key, so that cards keep their places whatever order the server lists them in.
  const sensorList = [...(sensors.data?.sensors ?? d.sensors)].sort((a, b) => a.key.localeCompare(b.key));

  return (
    <section>
      <p className="crumbs">
        <Link to="/">{t("nav.fleet")}</Link> / <SiteCrumb siteId={d.site_id} />
      </p>
      <div className="page-head">
        <h1>
          {d.label || d.serial_number} <span className="muted mono">{d.label ? d.serial_number : d.model}</span>
        </h1>
        <DeviceAvailability kind="datalogger" id={d.id} availability={d.availability} showReason />
        <AlertBadges siteId={d.site_id} deviceId={d.id} />
      </div>
      <div className="grid-2">
        <div className="card">
          <h2>{t("datalogger.device")}</h2>
          <Facts device={d} nowMs={now} />
          {admin && <DataloggerSettings device={d} />}
        </div>
        <div className="card">
          <h2>{t("devices.availability")}</h2>
          <AvailabilityHistory intervals={d.availability_history} nowMs={now} />
        </div>
      </div>
      <div className="page-head">
        <h2>
          {t("devices.sensors")} <span className="count">{sensorList.length}</span>
        </h2>
        <div className="chips" role="group" aria-label={t("datalogger.window")}>
          {WINDOWS.map((seconds) => (
            <button
              key={seconds}
              type="button"
              className={`chip${seconds === windowS ? " active" : ""}`}
              aria-pressed={seconds === windowS}
              onClick={() => setWindowS(seconds)}
              data-testid={`window-${seconds}`}
            >
              {format.duration(seconds)}
            </button>
          ))}
        </div>
      </div>
      {sensorList.length === 0 ? (
        <p className="muted">{t("datalogger.noSensors")}</p>
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
