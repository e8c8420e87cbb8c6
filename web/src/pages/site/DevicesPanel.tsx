/** A site's dataloggers and gateways: sortable, filterable, virtualised (sites can have thousands). */

import { useMemo, useState } from "react";
import { Link } from "react-router";
import { AVAILABILITIES, type Availability, type Datalogger, type Gateway } from "../../api/types";
import { AvailabilityBadge } from "../../components/AvailabilityBadge";
import { Loading } from "../../components/ErrorText";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { nextSort, sortRows, type SortState } from "../../data/sorting";
import { formatAgo, formatDateTime, formatPercent } from "../../format/time";
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

const seen = (at: string | null, nowMs: number) => <span title={formatDateTime(at)}>{formatAgo(at, nowMs)}</span>;

export function DevicesPanel({ siteId, nowMs }: { siteId: number; nowMs: number }) {
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
      header: "Serial",
      width: "minmax(8rem, 1.2fr)",
      sortable: true,
      render: (d) => (
        <Link to={`/dataloggers/${d.id}`} className="mono" data-testid="datalogger-link" data-serial={d.serial_number}>
          {d.serial_number}
        </Link>
      ),
    },
    { key: "model", header: "Model", width: "minmax(6rem, 1fr)", sortable: true, render: (d) => d.model },
    { key: "label", header: "Label", width: "minmax(6rem, 1fr)", sortable: true, render: (d) => d.label },
    { key: "gateway", header: "Gateway", width: "5.5rem", sortable: true, render: (d) => d.gateway },
    {
      key: "availability",
      header: "Availability",
      width: "7.5rem",
      sortable: true,
      render: (d) => <AvailabilityBadge availability={d.availability} />,
    },
    { key: "firmware", header: "Firmware", width: "7rem", sortable: true, render: (d) => d.firmware_version ?? "—" },
    { key: "sensors", header: "Sensors", width: "5rem", sortable: true, align: "right", render: (d) => d.sensors_count },
    {
      key: "uptime",
      header: "Uptime 24 h",
      width: "6.5rem",
      sortable: true,
      align: "right",
      render: (d) => formatPercent(d.uptime_percentage),
    },
    { key: "seen", header: "Last seen", width: "7.5rem", sortable: true, render: (d) => seen(d.last_seen_at, nowMs) },
  ];

  const gColumns: Column<Gateway, GatewayColumn>[] = [
    { key: "serial", header: "Gateway", width: "minmax(8rem, 1.2fr)", sortable: true, render: (g) => <span className="mono">{g.serial_number}</span> },
    { key: "label", header: "Label", width: "minmax(6rem, 1fr)", sortable: true, render: (g) => g.label },
    {
      key: "availability",
      header: "Availability",
      width: "7.5rem",
      sortable: true,
      render: (g) => <AvailabilityBadge availability={g.availability} />,
    },
    { key: "firmware", header: "Firmware", width: "7rem", sortable: true, render: (g) => g.firmware_version ?? "—" },
    {
      key: "uptime",
      header: "Uptime 24 h",
      width: "6.5rem",
      sortable: true,
      align: "right",
      render: (g) => formatPercent(g.uptime_percentage),
    },
    { key: "seen", header: "Last seen", width: "7.5rem", sortable: true, render: (g) => seen(g.last_seen_at, nowMs) },
  ];

  const current = tab === "dataloggers" ? dataloggers : gateways;
  return (
    <div className="card">
      <div className="card-head">
        <div className="tabs">
          <button type="button" className={`tab${tab === "dataloggers" ? " active" : ""}`} onClick={() => setTab("dataloggers")}>
            Dataloggers <span className="count">{dataloggers.data?.dataloggers.length ?? "…"}</span>
          </button>
          <button type="button" className={`tab${tab === "gateways" ? " active" : ""}`} onClick={() => setTab("gateways")}>
            Gateways <span className="count">{gateways.data?.gateways.length ?? "…"}</span>
          </button>
        </div>
        <div className="toolbar tight">
          <select
            value={filter.availability}
            onChange={(event) => setFilter({ ...filter, availability: event.target.value as DeviceFilter["availability"] })}
            aria-label="Filter by availability"
          >
            <option value="all">any availability</option>
            {AVAILABILITIES.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <input
            type="search"
            className="search"
            placeholder="Search serial, model, label"
            value={filter.search}
            onChange={(event) => setFilter({ ...filter, search: event.target.value })}
            aria-label="Search devices"
          />
        </div>
      </div>
      {current.data === undefined ? (
        <Loading error={current.error} what={tab} />
      ) : tab === "dataloggers" ? (
        <VirtualTable
          rows={dRows}
          columns={dColumns}
          rowKey={(d) => d.id}
          sort={dSort}
          onSort={(key) => setDSort(nextSort(dSort, key))}
          empty="No datalogger has been heard from yet."
          testId="dataloggers-table"
          rowTestId="datalogger-row"
        />
      ) : (
        <VirtualTable
          rows={gRows}
          columns={gColumns}
          rowKey={(g) => g.id}
          sort={gSort}
          onSort={(key) => setGSort(nextSort(gSort, key))}
          empty="No gateway has been heard from yet."
          testId="gateways-table"
          rowTestId="gateway-row"
        />
      )}
    </div>
  );
}
