/** A site's dataloggers and gateways: sortable, filterable, virtualised (sites can have thousands). */

import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { AVAILABILITIES, type Availability, type Datalogger, type Gateway } from "../../api/types";
import { DeviceAvailability } from "../../components/AvailabilityBadge";
import { Loading } from "../../components/ErrorText";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { nextSort, sortRows, type SortState } from "../../data/sorting";
import type { TimeFormat } from "../../format/time";
import { useTimeFormat } from "../../i18n";
import { useDataloggers, useGateways } from "../../hooks/queries";

type Tab = "dataloggers" | "gateways";
type DataloggerColumn = "serial" | "model" | "label" | "gateway" | "availability" | "firmware" | "sensors" | "uptime" | "seen";
type GatewayColumn = "serial" | "label" | "availability" | "firmware" | "uptime" | "seen";

interface DeviceFilter {
  availability: Availability | "all";
  search: string;
}

function matches(device: Datalogger | Gateway, filter: DeviceFilter): boolean {
  const needle = filter.search.trim().toLowerCase();
  return (
    (filter.availability === "all" || device.availability === filter.availability) &&
    (needle === "" ||
      device.serial_number.toLowerCase().includes(needle) ||
      device.label.toLowerCase().includes(needle) ||
      ("model" in device && device.model.toLowerCase().includes(needle)))
  );
}

function dataloggerValue(d: Datalogger, key: DataloggerColumn): string | number | null {
  switch (key) {
    case "serial":
      return d.serial_number;
    case "model":
      return d.model;
    case "label":
      return d.label;
    case "gateway":
      return d.gateway;
    case "availability":
      return d.availability;
    case "firmware":
      return d.firmware_version;
    case "sensors":
      return d.sensors_count;
    case "uptime":
      return d.uptime_percentage;
    case "seen":
      return d.last_seen_at;
  }
}

function gatewayValue(g: Gateway, key: GatewayColumn): string | number | null {
  switch (key) {
    case "serial":
      return g.serial_number;
    case "label":
      return g.label;
    case "availability":
      return g.availability;
    case "firmware":
      return g.firmware_version;
    case "uptime":
      return g.uptime_percentage;
    case "seen":
      return g.last_seen_at;
  }
}

function Seen({ at, nowMs, format }: { at: string | null; nowMs: number; format: TimeFormat }) {
  const { t } = useTranslation();
  return <span title={format.dateTime(at)}>{format.ago(at, nowMs) ?? t("common.never")}</span>;
}

/** A datalogger on a phone: serial and availability, then model, label and last seen. */
function DataloggerCard({ d, nowMs, format }: { d: Datalogger; nowMs: number; format: TimeFormat }) {
  const { t } = useTranslation();
  return (
    <div className="device-card">
      <div className="site-card-top">
        <Link to={`/dataloggers/${d.id}`} className="mono ellipsis" data-testid="datalogger-link" data-serial={d.serial_number}>
          {d.serial_number}
        </Link>
        <DeviceAvailability kind="datalogger" id={d.id} availability={d.availability} />
      </div>
      <div className="site-card-line muted small">
        <span className="ellipsis">
          {d.model}
          {d.label ? ` · ${d.label}` : ""}
        </span>
        <span>
          {t("devices.lastSeen")}: <Seen at={d.last_seen_at} nowMs={nowMs} format={format} />
        </span>
      </div>
    </div>
  );
}

export function DevicesPanel({ siteId, nowMs }: { siteId: number; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const seen = (at: string | null) => <Seen at={at} nowMs={nowMs} format={format} />;
  const dataloggers = useDataloggers(siteId);
  const gateways = useGateways(siteId);
  const [tab, setTab] = useState<Tab>("dataloggers");
  const [filter, setFilter] = useState<DeviceFilter>({ availability: "all", search: "" });
  const [dSort, setDSort] = useState<SortState<DataloggerColumn>>({ key: "serial", direction: "asc" });
  const [gSort, setGSort] = useState<SortState<GatewayColumn>>({ key: "serial", direction: "asc" });

  const dRows = useMemo(
    () => sortRows((dataloggers.data?.dataloggers ?? []).filter((d) => matches(d, filter)), dSort, dataloggerValue),
    [dataloggers.data, filter, dSort],
  );
  const gRows = useMemo(
    () => sortRows((gateways.data?.gateways ?? []).filter((g) => matches(g, filter)), gSort, gatewayValue),
    [gateways.data, filter, gSort],
  );

  const dColumns: Column<Datalogger, DataloggerColumn>[] = [
    {
      key: "serial",
      header: t("devices.serial"),
      width: "minmax(8rem, 1.2fr)",
      sortable: true,
      render: (d) => (
        <Link to={`/dataloggers/${d.id}`} className="mono" data-testid="datalogger-link" data-serial={d.serial_number}>
          {d.serial_number}
        </Link>
      ),
    },
    { key: "model", header: t("devices.model"), width: "minmax(6rem, 1fr)", sortable: true, priority: 2, render: (d) => d.model },
    { key: "label", header: t("devices.label"), width: "minmax(6rem, 1fr)", sortable: true, priority: 2, render: (d) => d.label },
    { key: "gateway", header: t("devices.gateway"), width: "5.5rem", sortable: true, priority: 3, render: (d) => d.gateway },
    {
      key: "availability",
      header: t("devices.availability"),
      width: "7.5rem",
      sortable: true,
      render: (d) => <DeviceAvailability kind="datalogger" id={d.id} availability={d.availability} />,
    },
    { key: "firmware", header: t("devices.firmware"), width: "7rem", sortable: true, priority: 3, render: (d) => d.firmware_version ?? "—" },
    { key: "sensors", header: t("devices.sensors"), width: "5rem", sortable: true, align: "right", priority: 3, render: (d) => d.sensors_count },
    {
      key: "uptime",
      header: t("devices.uptime24h"),
      width: "6.5rem",
      sortable: true,
      align: "right",
      priority: 2,
      render: (d) => format.percentOf(d.uptime_percentage),
    },
    { key: "seen", header: t("devices.lastSeen"), width: "7.5rem", sortable: true, render: (d) => seen(d.last_seen_at) },
  ];

  const gColumns: Column<Gateway, GatewayColumn>[] = [
    { key: "serial", header: t("devices.gateway"), width: "minmax(6rem, 1.2fr)", sortable: true, render: (g) => <span className="mono">{g.serial_number}</span> },
    { key: "label", header: t("devices.label"), width: "minmax(6rem, 1fr)", sortable: true, priority: 2, render: (g) => g.label },
    {
      key: "availability",
      header: t("devices.availability"),
      width: "7.5rem",
      sortable: true,
      render: (g) => <DeviceAvailability kind="gateway" id={g.id} availability={g.availability} />,
    },
    { key: "firmware", header: t("devices.firmware"), width: "7rem", sortable: true, priority: 3, render: (g) => g.firmware_version ?? "—" },
    {
      key: "uptime",
      header: t("devices.uptime24h"),
      width: "6.5rem",
      sortable: true,
      align: "right",
      priority: 2,
      render: (g) => format.percentOf(g.uptime_percentage),
    },
    { key: "seen", header: t("devices.lastSeen"), width: "6.5rem", sortable: true, render: (g) => seen(g.last_seen_at) },
  ];

  const current = tab === "dataloggers" ? dataloggers : gateways;
  return (
    <div className="card">
      <div className="card-head">
        <div className="tabs">
          <button type="button" className={`tab${tab === "dataloggers" ? " active" : ""}`} onClick={() => setTab("dataloggers")}>
            {t("devices.dataloggers")} <span className="count">{dataloggers.data?.dataloggers.length ?? "…"}</span>
          </button>
          <button type="button" className={`tab${tab === "gateways" ? " active" : ""}`} onClick={() => setTab("gateways")}>
            {t("devices.gateways")} <span className="count">{gateways.data?.gateways.length ?? "…"}</span>
          </button>
        </div>
        <div className="toolbar tight">
          <select
            value={filter.availability}
            onChange={(event) => setFilter({ ...filter, availability: event.target.value as DeviceFilter["availability"] })}
            aria-label={t("devices.filterAvailability")}
          >
            <option value="all">{t("devices.anyAvailability")}</option>
            {AVAILABILITIES.map((a) => (
              <option key={a} value={a}>
                {t(`availability.${a}`)}
              </option>
            ))}
          </select>
          <input
            type="search"
            className="search"
            placeholder={t("devices.search")}
            value={filter.search}
            onChange={(event) => setFilter({ ...filter, search: event.target.value })}
            aria-label={t("devices.search")}
          />
        </div>
      </div>
      {current.data === undefined ? (
        <Loading error={current.error} onRetry={() => void current.refetch()} />
      ) : tab === "dataloggers" ? (
        <VirtualTable
          rows={dRows}
          columns={dColumns}
          rowKey={(d) => d.id}
          sort={dSort}
          onSort={(key) => setDSort(nextSort(dSort, key))}
          empty={t("devices.noDataloggers")}
          testId="dataloggers-table"
          rowTestId="datalogger-row"
          card={(d) => <DataloggerCard d={d} nowMs={nowMs} format={format} />}
          cardHeight={72}
        />
      ) : (
        <VirtualTable
          rows={gRows}
          columns={gColumns}
          rowKey={(g) => g.id}
          sort={gSort}
          onSort={(key) => setGSort(nextSort(gSort, key))}
          empty={t("devices.noGateways")}
          testId="gateways-table"
          rowTestId="gateway-row"
        />
      )}
    </div>
  );
}
