/** Every site at a glance: status, error and retry, device counts, last heartbeat. */

import { useMemo, useState } from "react";
import { Link } from "react-router";
import { CONNECTION_STATUSES, type SiteStatus } from "../api/types";
import { useIsAdmin } from "../auth/useAuth";
import { AdminMenu } from "../components/AdminMenu";
import { DeviceCounts } from "../components/DeviceCounts";
import { Loading } from "../components/ErrorText";
import { RetryInfo } from "../components/RetryInfo";
import { StatusBadge } from "../components/StatusBadge";
import { VirtualTable, type Column } from "../components/VirtualTable";
import { countBySite, countByStatus, emptyCounts, filterSites, type SiteFilter } from "../data/fleet";
import { nextSort, sortRows, type SortState } from "../data/sorting";
import { STATUS_LABELS } from "../format/status";
import { formatAgo } from "../format/time";
import { useDataloggers, useGateways, useSites } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { SiteForm } from "./site/SiteForm";

type SiteColumn = "status" | "name" | "devices" | "heartbeat" | "problem" | "admin";

function sortValue(site: SiteStatus, key: SiteColumn): string | number | null {
  switch (key) {
    case "status":
      return site.status;
    case "name":
      return site.site_name;
    case "heartbeat":
      return site.last_heartbeat_at;
    case "problem":
      return site.error_message || null;
    case "devices":
    case "admin":
      return null;
  }
}

export function FleetPage() {
  const sites = useSites();
  const dataloggers = useDataloggers(null);
  const gateways = useGateways(null);
  const admin = useIsAdmin();
  const now = useNow(1000);
  const [filter, setFilter] = useState<SiteFilter>({ status: "all", search: "" });
  const [sort, setSort] = useState<SortState<SiteColumn>>({ key: "name", direction: "asc" });
  const [creating, setCreating] = useState(false);

  const all = useMemo(() => sites.data?.sites ?? [], [sites.data]);
  const statusCounts = useMemo(() => countByStatus(all), [all]);
  const deviceCounts = useMemo(
    () => countBySite(dataloggers.data?.dataloggers, gateways.data?.gateways),
    [dataloggers.data, gateways.data],
  );
  const rows = useMemo(() => sortRows(filterSites(all, filter), sort, sortValue), [all, filter, sort]);

  const columns: Column<SiteStatus, SiteColumn>[] = [
    { key: "status", header: "Status", width: "10.5rem", sortable: true, render: (site) => <StatusBadge status={site.status} /> },
    {
      key: "name",
      header: "Site",
      width: "minmax(10rem, 1.4fr)",
      sortable: true,
      render: (site) => (
        <Link to={`/sites/${site.site_id}`} className="site-link" data-testid="site-link" data-code={site.code}>
          <strong>{site.site_name}</strong> <span className="muted mono">{site.code}</span>
        </Link>
      ),
    },
    {
      key: "devices",
      header: "Devices",
      width: "minmax(11rem, 1fr)",
      render: (site) => <DeviceCounts counts={deviceCounts.get(site.site_id) ?? emptyCounts()} />,
    },
    {
      key: "heartbeat",
      header: "Last heartbeat",
      width: "8.5rem",
      sortable: true,
      render: (site) => <span className="muted">{formatAgo(site.last_heartbeat_at, now)}</span>,
    },
    {
      key: "problem",
      header: "Error",
      width: "minmax(10rem, 1.6fr)",
      sortable: true,
      render: (site) =>
        site.status === "error" ? (
          <span className="problem" title={site.error_message}>
            <span className="error-text inline">{site.error_message || "error"}</span> <RetryInfo site={site} nowMs={now} />
          </span>
        ) : null,
    },
  ];
  if (admin) {
    columns.push({ key: "admin", header: "", width: "3rem", render: (site) => <AdminMenu site={site} /> });
  }

  return (
    <section>
      <div className="page-head">
        <h1>Fleet</h1>
        {admin && (
          <button type="button" className="button primary" onClick={() => setCreating((v) => !v)} data-testid="new-site">
            {creating ? "Close" : "New site"}
          </button>
        )}
      </div>
      {admin && creating && (
        <div className="card">
          <h2>New site</h2>
          <SiteForm onDone={() => setCreating(false)} />
        </div>
      )}
      <div className="toolbar">
        <div className="chips" role="group" aria-label="Filter by status">
          <button
            type="button"
            className={`chip${filter.status === "all" ? " active" : ""}`}
            onClick={() => setFilter({ ...filter, status: "all" })}
          >
            All <span className="count">{all.length}</span>
          </button>
          {CONNECTION_STATUSES.map((status) => (
            <button
              key={status}
              type="button"
              className={`chip${filter.status === status ? " active" : ""}`}
              onClick={() => setFilter({ ...filter, status })}
              data-testid={`filter-${status}`}
            >
              {STATUS_LABELS[status]} <span className="count">{statusCounts[status]}</span>
            </button>
          ))}
        </div>
        <input
          type="search"
          className="search"
          placeholder="Search name or code"
          value={filter.search}
          onChange={(event) => setFilter({ ...filter, search: event.target.value })}
          aria-label="Search sites"
          data-testid="site-search"
        />
      </div>
      {sites.data === undefined ? (
        <Loading error={sites.error} what="sites" />
      ) : (
        <VirtualTable
          rows={rows}
          columns={columns}
          rowKey={(site) => site.site_id}
          sort={sort}
          onSort={(key) => setSort(nextSort(sort, key))}
          rowHeight={48}
          maxHeight="calc(100vh - 15rem)"
          empty={all.length === 0 ? "No sites yet." : "No site matches."}
          testId="sites-table"
          rowTestId="site-row"
        />
      )}
    </section>
  );
}
