/** Listen on `{code}/#` for a while and list every topic heard, with counts and a guess of its kind. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import type { DiscoveredTopic } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { SpinnerIcon } from "../../components/icons";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { queryKeys } from "../../data/queryKeys";
import { nextSort, sortRows, type SortState } from "../../data/sorting";
import { secondsUntil, type TimeFormat } from "../../format/time";
import { useTimeFormat } from "../../i18n";
import { useSiteDiscovery } from "../../hooks/queries";
import { useNow } from "../../hooks/useNow";

type DiscoveryColumn = "topic" | "count" | "size" | "seen" | "kind" | "version";

function value(t: DiscoveredTopic, key: DiscoveryColumn): string | number {
  switch (key) {
    case "topic":
      return t.topic;
    case "count":
      return t.count;
    case "size":
      return t.last_payload_size;
    case "seen":
      return t.last_seen_at;
    case "kind":
      return t.guessed_kind;
    case "version":
      return t.guessed_payload_version;
  }
}

function columns(t: TFunction, format: TimeFormat): Column<DiscoveredTopic, DiscoveryColumn>[] {
  return [
    { key: "topic", header: t("discovery.topic"), width: "minmax(10rem, 3fr)", sortable: true, render: (d) => <span className="mono">{d.topic}</span> },
    { key: "count", header: t("discovery.messages"), width: "6rem", sortable: true, align: "right", render: (d) => d.count },
    { key: "size", header: t("discovery.lastSize"), width: "6rem", sortable: true, align: "right", priority: 3, render: (d) => `${d.last_payload_size} B` },
    { key: "kind", header: t("discovery.looksLike"), width: "minmax(7rem, 1fr)", sortable: true, priority: 2, render: (d) => d.guessed_kind || "—" },
    { key: "version", header: t("discovery.payload"), width: "5rem", sortable: true, priority: 3, render: (d) => d.guessed_payload_version || "—" },
    { key: "seen", header: t("devices.lastSeen"), width: "9.5rem", sortable: true, priority: 2, render: (d) => format.shortDateTime(d.last_seen_at) },
  ];
}

export function DiscoveryPanel({ siteId }: { siteId: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const client = useQueryClient();
  const discovery = useSiteDiscovery(siteId);
  const [seconds, setSeconds] = useState(30);
  const [sort, setSort] = useState<SortState<DiscoveryColumn>>({ key: "count", direction: "desc" });
  const now = useNow(1000);
  const start = useMutation({
    mutationFn: () => api.startDiscovery(siteId, seconds),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.siteDiscovery(siteId) }),
  });
  const d = discovery.data;
  const running = d?.state === "running";
  const left = secondsUntil(d?.ends_at, now);
  return (
    <div>
      <div className="toolbar tight">
        <label className="inline">
          {t("discovery.listenFor")}
          <input
            type="number"
            min={1}
            max={3600}
            value={seconds}
            onChange={(event) => setSeconds(Number(event.target.value))}
            className="narrow"
          />
          {t("discovery.seconds")}
        </label>
        <button
          type="button"
          className="button primary"
          disabled={start.isPending || running}
          onClick={() => start.mutate()}
          data-testid="discovery-start"
        >
          {running ? <SpinnerIcon /> : null} {running ? t("discovery.listening") : t("discovery.start")}
        </button>
        {running && left !== null && <span className="muted">{t("discovery.left", { duration: format.duration(left) })}</span>}
        {!running && d?.started_at && <span className="muted">{t("discovery.lastStarted", { at: format.dateTime(d.started_at) })}</span>}
      </div>
      <ErrorText error={start.error ?? discovery.error} />
      {d && (
        <VirtualTable
          rows={sortRows(d.topics, sort, value)}
          columns={columns(t, format)}
          rowKey={(t) => t.topic}
          sort={sort}
          onSort={(key) => setSort(nextSort(sort, key))}
          maxHeight="40vh"
          empty={running ? t("discovery.nothingYet") : t("discovery.none")}
          testId="discovery-table"
        />
      )}
    </div>
  );
}
