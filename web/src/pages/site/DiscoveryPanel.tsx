/** Listen on `{code}/#` for a while and list every topic heard, with counts and a guess of its kind. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/endpoints";
import type { DiscoveredTopic } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { SpinnerIcon } from "../../components/icons";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { queryKeys } from "../../data/queryKeys";
import { nextSort, sortRows, type SortState } from "../../data/sorting";
import { formatDateTime, formatDuration, formatShortDateTime, secondsUntil } from "../../format/time";
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

const COLUMNS: Column<DiscoveredTopic, DiscoveryColumn>[] = [
  { key: "topic", header: "Topic", width: "minmax(14rem, 3fr)", sortable: true, render: (t) => <span className="mono">{t.topic}</span> },
  { key: "count", header: "Messages", width: "6rem", sortable: true, align: "right", render: (t) => t.count },
  { key: "size", header: "Last size", width: "6rem", sortable: true, align: "right", render: (t) => `${t.last_payload_size} B` },
  { key: "kind", header: "Looks like", width: "minmax(7rem, 1fr)", sortable: true, render: (t) => t.guessed_kind || "—" },
  { key: "version", header: "Payload", width: "5rem", sortable: true, render: (t) => t.guessed_payload_version || "—" },
  { key: "seen", header: "Last seen", width: "9.5rem", sortable: true, render: (t) => formatShortDateTime(t.last_seen_at) },
];

export function DiscoveryPanel({ siteId }: { siteId: number }) {
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
          Listen for
          <input
            type="number"
            min={1}
            max={3600}
            value={seconds}
            onChange={(event) => setSeconds(Number(event.target.value))}
            className="narrow"
          />
          s
        </label>
        <button
          type="button"
          className="button primary"
          disabled={start.isPending || running}
          onClick={() => start.mutate()}
          data-testid="discovery-start"
        >
          {running ? <SpinnerIcon /> : null} {running ? "Listening…" : "Start discovery"}
        </button>
        {running && left !== null && <span className="muted">{formatDuration(left)} left</span>}
        {!running && d?.started_at && <span className="muted">Last window started {formatDateTime(d.started_at)}</span>}
      </div>
      <ErrorText error={start.error ?? discovery.error} />
      {d && (
        <VirtualTable
          rows={sortRows(d.topics, sort, value)}
          columns={COLUMNS}
          rowKey={(t) => t.topic}
          sort={sort}
          onSort={(key) => setSort(nextSort(sort, key))}
          maxHeight="40vh"
          empty={running ? "Nothing heard yet…" : "No discovery results. Start a window to listen on the site's topics."}
          testId="discovery-table"
        />
      )}
    </div>
  );
}
