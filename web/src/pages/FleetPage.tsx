/**
 * Every site at a glance: status, error and retry, device counts, last heartbeat. Filters and
 * sort live in the URL; admins can select sites and start or stop them together. On phones
 * each site is a card.
 */

import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { api, type ControlAction } from "../api/endpoints";
import { CONNECTION_STATUSES, type ConnectionStatus, type SiteStatus } from "../api/types";
import { useIsAdmin } from "../auth/useAuth";
import { AdminMenu } from "../components/AdminMenu";
import { DeviceCounts } from "../components/DeviceCounts";
import { Loading } from "../components/ErrorText";
import { RetryInfo } from "../components/RetryInfo";
import { StatusBadge } from "../components/StatusBadge";
import { VirtualTable, type Column } from "../components/VirtualTable";
import { countBySite, countByStatus, emptyCounts, filterSites, type AvailabilityCounts, type SiteFilter } from "../data/fleet";
import { queryKeys } from "../data/queryKeys";
import { nextSort, sortRows, type SortState } from "../data/sorting";
import { parseSort, withParams, writeSort } from "../data/urlState";
import { useTimeFormat } from "../i18n";
import { useDataloggers, useGateways, useSites } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { useToastStore } from "../live/ToastContext";
import { ExportMenu, ImportPanel } from "./fleet/BulkImport";
import { SiteForm } from "./site/SiteForm";

type SiteColumn = "select" | "status" | "name" | "devices" | "heartbeat" | "problem" | "admin";
const SORTABLE: readonly SiteColumn[] = ["status", "name", "heartbeat", "problem"];
const DEFAULT_SORT: SortState<SiteColumn> = { key: "name", direction: "asc" };

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
    default:
      return null;
  }
}

function parseStatus(text: string | null): ConnectionStatus | "all" {
  return CONNECTION_STATUSES.find((status) => status === text) ?? "all";
}

/** Start or stop many sites, a few requests at a time; resolves to how many failed. */
async function controlMany(siteIds: readonly number[], action: ControlAction): Promise<number> {
  let failed = 0;
  const queue = [...siteIds];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      await api.control(id, action).catch(() => {
        failed += 1;
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return failed;
}

function BulkBar({ selected, onClear }: { selected: ReadonlySet<number>; onClear: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const toasts = useToastStore();
  const [busy, setBusy] = useState(false);
  const run = async (action: ControlAction) => {
    setBusy(true);
    const ids = [...selected];
    const failed = await controlMany(ids, action);
    setBusy(false);
    toasts.push({ tone: failed ? "error" : "info", key: "bulk", params: { action, count: ids.length, failed } });
    void client.invalidateQueries({ queryKey: queryKeys.sites() });
  };
  return (
    <div className="bulk-bar" data-testid="bulk-bar">
      <span>{t("fleet.selected", { count: selected.size })}</span>
      <button type="button" className="button" disabled={busy} onClick={() => void run("start")} data-testid="bulk-start">
        {t("menu.start")}
      </button>
      <button type="button" className="button" disabled={busy} onClick={() => void run("stop")} data-testid="bulk-stop">
        {t("menu.stop")}
      </button>
      <button type="button" className="button ghost" onClick={onClear}>
        {t("fleet.clearSelection")}
      </button>
    </div>
  );
}

function SiteCard({
  site,
  counts,
  nowMs,
  admin,
  select,
}: {
  site: SiteStatus;
  counts: AvailabilityCounts;
  nowMs: number;
  admin: boolean;
  select: ReactNode;
}) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  return (
    <div className="site-card">
      <div className="site-card-top">
        {select}
        <StatusBadge status={site.status} />
        <Link to={`/sites/${site.site_id}`} className="site-link ellipsis" data-testid="site-link" data-code={site.code}>
          <strong>{site.site_name}</strong> <span className="muted mono">{site.code}</span>
        </Link>
        {admin && <AdminMenu site={site} />}
      </div>
      <div className="site-card-line">
        <DeviceCounts counts={counts} />
        <span className="muted small">
          {t("fleet.heartbeat")}: {format.ago(site.last_heartbeat_at, nowMs) ?? t("common.never")}
        </span>
      </div>
      {site.status === "error" && (
        <div className="site-card-line ellipsis" title={site.error_message}>
          <span className="error-text inline">{site.error_message || t("status.error")}</span>{" "}
          <RetryInfo site={site} nowMs={nowMs} />
        </div>
      )}
    </div>
  );
}

export function FleetPage() {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const sites = useSites();
  const dataloggers = useDataloggers(null);
  const gateways = useGateways(null);
  const admin = useIsAdmin();
  const now = useNow(1000);
  const [params, setParams] = useSearchParams();
  const statusParam = params.get("status");
  const searchParam = params.get("q") ?? "";
  const sortParam = params.get("sort");
  const filter = useMemo<SiteFilter>(
    () => ({ status: parseStatus(statusParam), search: searchParam }),
    [statusParam, searchParam],
  );
  const sort = useMemo(() => parseSort(sortParam, SORTABLE, DEFAULT_SORT), [sortParam]);
  const setFilter = (next: SiteFilter) =>
    setParams(withParams(params, { status: next.status === "all" ? null : next.status, q: next.search }), { replace: true });
  const setSort = (next: SortState<SiteColumn>) =>
    setParams(withParams(params, { sort: next.key === DEFAULT_SORT.key && next.direction === "asc" ? null : writeSort(next) }), {
      replace: true,
    });
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState(false);
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());

  const all = useMemo(() => sites.data?.sites ?? [], [sites.data]);
  const statusCounts = useMemo(() => countByStatus(all), [all]);
  const deviceCounts = useMemo(
    () => countBySite(dataloggers.data?.dataloggers, gateways.data?.gateways),
    [dataloggers.data, gateways.data],
  );
  const rows = useMemo(() => sortRows(filterSites(all, filter), sort, sortValue), [all, filter, sort]);
  const visibleSelected = new Set(rows.filter((site) => selected.has(site.site_id)).map((site) => site.site_id));
  const toggle = (siteId: number) => {
    const next = new Set(selected);
    if (next.has(siteId)) next.delete(siteId);
    else next.add(siteId);
    setSelected(next);
  };
  const checkbox = (site: SiteStatus) => (
    <input
      type="checkbox"
      checked={selected.has(site.site_id)}
      onChange={() => toggle(site.site_id)}
      aria-label={t("fleet.select", { code: site.code })}
      data-testid="site-select"
    />
  );

  const columns: Column<SiteStatus, SiteColumn>[] = [];
  if (admin) {
    columns.push({ key: "select", header: "", width: "1.5rem", render: checkbox });
  }
  columns.push(
    {
      key: "status",
      header: t("fleet.status"),
      width: "10.5rem",
      sortable: true,
      render: (site) => <StatusBadge status={site.status} />,
    },
    {
      key: "name",
      header: t("fleet.site"),
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
      header: t("fleet.devices"),
      width: "minmax(11rem, 1fr)",
      render: (site) => <DeviceCounts counts={deviceCounts.get(site.site_id) ?? emptyCounts()} />,
    },
    {
      key: "heartbeat",
      header: t("fleet.heartbeat"),
      width: "8.5rem",
      sortable: true,
      render: (site) => (
        <span className="muted" title={format.dateTime(site.last_heartbeat_at)}>
          {format.ago(site.last_heartbeat_at, now) ?? t("common.never")}
        </span>
      ),
    },
    {
      key: "problem",
      header: t("fleet.error"),
      width: "minmax(10rem, 1.6fr)",
      sortable: true,
      priority: 3,
      render: (site) =>
        site.status === "error" ? (
          <span className="problem" title={site.error_message}>
            <span className="error-text inline">{site.error_message || t("status.error")}</span>{" "}
            <RetryInfo site={site} nowMs={now} />
          </span>
        ) : null,
    },
  );
  if (admin) {
    columns.push({ key: "admin", header: "", width: "3rem", render: (site) => <AdminMenu site={site} /> });
  }

  return (
    <section>
      <div className="page-head">
        <h1>{t("fleet.title")}</h1>
        {admin && (
          <div className="bulk-tools">
            <ExportMenu />
            <button type="button" className="button" onClick={() => setImporting((v) => !v)} data-testid="import-sites">
              {importing ? t("common.close") : t("bulk.import")}
            </button>
            <button type="button" className="button primary" onClick={() => setCreating((v) => !v)} data-testid="new-site">
              {creating ? t("common.close") : t("fleet.newSite")}
            </button>
          </div>
        )}
      </div>
      {admin && importing && <ImportPanel />}
      {admin && creating && (
        <div className="card">
          <h2>{t("fleet.newSite")}</h2>
          <SiteForm onDone={() => setCreating(false)} />
        </div>
      )}
      <div className="toolbar">
        <div className="chips" role="group" aria-label={t("fleet.filterByStatus")}>
          <button
            type="button"
            className={`chip${filter.status === "all" ? " active" : ""}`}
            aria-pressed={filter.status === "all"}
            onClick={() => setFilter({ ...filter, status: "all" })}
          >
            {t("fleet.all")} <span className="count">{all.length}</span>
          </button>
          {CONNECTION_STATUSES.map((status) => (
            <button
              key={status}
              type="button"
              className={`chip${filter.status === status ? " active" : ""}`}
              aria-pressed={filter.status === status}
              onClick={() => setFilter({ ...filter, status })}
              data-testid={`filter-${status}`}
            >
              {t(`status.${status}`)} <span className="count">{statusCounts[status]}</span>
            </button>
          ))}
        </div>
        <input
          type="search"
          className="search"
          placeholder={t("fleet.search")}
          value={filter.search}
          onChange={(event) => setFilter({ ...filter, search: event.target.value })}
          aria-label={t("fleet.search")}
          data-testid="site-search"
        />
      </div>
      {admin && rows.length > 0 && (
        <div className="toolbar tight bulk-select">
          <label className="check">
            <input
              type="checkbox"
              checked={visibleSelected.size === rows.length}
              onChange={(event) => setSelected(event.target.checked ? new Set(rows.map((site) => site.site_id)) : new Set())}
              data-testid="select-all"
            />
            {t("fleet.selectAll")}
          </label>
          {selected.size > 0 && <BulkBar selected={selected} onClear={() => setSelected(new Set())} />}
        </div>
      )}
      {sites.data === undefined ? (
        <Loading error={sites.error} onRetry={() => void sites.refetch()} />
      ) : (
        <VirtualTable
          rows={rows}
          columns={columns}
          rowKey={(site) => site.site_id}
          sort={sort}
          onSort={(key) => setSort(nextSort(sort, key))}
          rowHeight={48}
          maxHeight="calc(100vh - 15rem)"
          empty={all.length === 0 ? t("fleet.noSites") : t("fleet.noMatch")}
          testId="sites-table"
          rowTestId="site-row"
          card={(site) => (
            <SiteCard
              site={site}
              counts={deviceCounts.get(site.site_id) ?? emptyCounts()}
              nowMs={now}
              admin={admin}
              select={admin ? checkbox(site) : null}
            />
          )}
          cardHeight={104}
          rowClass={(site) => (selected.has(site.site_id) ? "selected" : "")}
        />
      )}
    </section>
  );
}
