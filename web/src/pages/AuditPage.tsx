/** Who did what: every control action, config change and publish, newest first. */

import { useMemo, useState } from "react";
import type { AuditEntry } from "../api/types";
import { Loading } from "../components/ErrorText";
import { VirtualTable, type Column } from "../components/VirtualTable";
import { formatShortDateTime } from "../format/time";
import { useAudit } from "../hooks/queries";

type AuditColumn = "at" | "actor" | "action" | "target" | "result" | "detail";

/** `{"site_id": 1, "fields": ["name"]}` → `site_id=1 fields=name` */
function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(",") : typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(" ");
}

const COLUMNS: Column<AuditEntry, AuditColumn>[] = [
  { key: "at", header: "When", width: "9.5rem", render: (e) => formatShortDateTime(e.at) },
  { key: "actor", header: "Who", width: "9rem", render: (e) => e.actor },
  { key: "action", header: "Action", width: "minmax(8rem, 1fr)", render: (e) => <span className="mono small">{e.action}</span> },
  { key: "target", header: "Target", width: "minmax(8rem, 1fr)", render: (e) => e.target },
  { key: "result", header: "Result", width: "6rem", render: (e) => e.result },
  {
    key: "detail",
    header: "Detail",
    width: "minmax(10rem, 2fr)",
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

export function AuditPage() {
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
        <h1>Audit</h1>
        <input
          type="search"
          className="search"
          placeholder="Filter"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          aria-label="Filter audit entries"
        />
        <button type="button" className="button ghost" onClick={() => void audit.refetch()}>
          Refresh
        </button>
      </div>
      {audit.data === undefined ? (
        <Loading error={audit.error} what="audit log" />
      ) : (
        <VirtualTable rows={rows} columns={COLUMNS} rowKey={(e) => e.id} maxHeight="calc(100vh - 12rem)" testId="audit-table" />
      )}
    </section>
  );
}
