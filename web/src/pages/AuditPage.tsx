/** Who did what: every control action, config change and publish, newest first; CSV export. */

import type { TFunction } from "i18next";
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import type { AuditEntry } from "../api/types";
import { Loading } from "../components/ErrorText";
import { VirtualTable, type Column } from "../components/VirtualTable";
import type { TimeFormat } from "../format/time";
import { useAudit } from "../hooks/queries";
import { useTimeFormat } from "../i18n";

type AuditColumn = "at" | "actor" | "action" | "target" | "result" | "detail";

/** `{"site_id": 1, "fields": ["name"]}` → `site_id=1 fields=name` */
function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(",") : typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(" ");
}

function columns(t: TFunction, format: TimeFormat): Column<AuditEntry, AuditColumn>[] {
  return [
    { key: "at", header: t("audit.when"), width: "9.5rem", render: (e) => format.shortDateTime(e.at) },
    { key: "actor", header: t("audit.who"), width: "9rem", priority: 2, render: (e) => e.actor },
    { key: "action", header: t("audit.action"), width: "minmax(8rem, 1fr)", render: (e) => <span className="mono small">{e.action}</span> },
    { key: "target", header: t("audit.target"), width: "minmax(8rem, 1fr)", priority: 2, render: (e) => e.target },
    { key: "result", header: t("audit.result"), width: "6rem", priority: 3, render: (e) => e.result },
    {
      key: "detail",
      header: t("audit.detail"),
      width: "minmax(10rem, 2fr)",
      priority: 3,
      render: (e) => {
        const text = detailText(e.detail);
        return (
          <span className="ellipsis small mono" title={text}>
            {text}
          </span>
        );
      },
    },
  ];
}

export function AuditPage() {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const audit = useAudit();
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const rows = useMemo(
    () =>
      (audit.data?.entries ?? []).filter(
        (e) => !needle || [e.actor, e.action, e.target, detailText(e.detail)].some((field) => field.toLowerCase().includes(needle)),
      ),
    [audit.data, needle],
  );
  return (
    <section>
      <div className="page-head">
        <h1>{t("audit.title")}</h1>
        <input
          type="search"
          className="search"
          placeholder={t("audit.filter")}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          aria-label={t("audit.filter")}
        />
        <button type="button" className="button ghost" onClick={() => void audit.refetch()}>
          {t("common.refresh")}
        </button>
        <a className="button ghost" href="/api/v1/audit?format=csv" download="audit.csv" data-testid="audit-csv">
          {t("common.exportCsv")}
        </a>
      </div>
      {audit.data === undefined ? (
        <Loading error={audit.error} onRetry={() => void audit.refetch()} />
      ) : (
        <VirtualTable
          rows={rows}
          columns={columns(t, format)}
          rowKey={(e) => e.id}
          maxHeight="calc(100vh - 12rem)"
          testId="audit-table"
          rowTestId="audit-row"
        />
      )}
    </section>
  );
}
