/** Publish a command to a device (admins) and the site's command history with outcomes. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api } from "../../api/endpoints";
import type { Command, CommandOutcome, PublishInput, Qos, SiteStatus } from "../../api/types";
import { useIsAdmin } from "../../auth/useAuth";
import { ErrorText, Loading } from "../../components/ErrorText";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { queryKeys } from "../../data/queryKeys";
import { formatShortDateTime } from "../../format/time";
import { useSiteCommands } from "../../hooks/queries";
import { useToastStore } from "../../live/ToastContext";

const OUTCOME_TONES: Record<CommandOutcome, string> = { sent: "blue", acked: "green", failed: "red" };

type CommandColumn = "at" | "topic" | "size" | "qos" | "by" | "outcome";

const COLUMNS: Column<Command, CommandColumn>[] = [
  { key: "at", header: "Sent", width: "9.5rem", render: (c) => formatShortDateTime(c.created_at) },
  { key: "topic", header: "Topic", width: "minmax(12rem, 2fr)", render: (c) => <span className="mono small">{c.topic}</span> },
  { key: "size", header: "Size", width: "5rem", align: "right", render: (c) => `${c.payload_size} B` },
  { key: "qos", header: "QoS", width: "4rem", render: (c) => `${c.qos}${c.retain ? " R" : ""}` },
  { key: "by", header: "By", width: "9rem", render: (c) => c.sender },
  {
    key: "outcome",
    header: "Outcome",
    width: "minmax(8rem, 1.5fr)",
    render: (c) => (
      <span title={c.error}>
        <span className={`badge badge-${OUTCOME_TONES[c.outcome] ?? "grey"}`} data-testid="command-outcome">
          {c.outcome}
        </span>{" "}
        {c.error && <span className="error-text inline small">{c.error}</span>}
      </span>
    ),
  },
];

function PublishForm({ site }: { site: SiteStatus }) {
  const client = useQueryClient();
  const toasts = useToastStore();
  const [draft, setDraft] = useState<PublishInput>({ topic: `${site.code}/`, message: "", qos: 1, retain: false });
  const publish = useMutation({
    mutationFn: (input: PublishInput) => api.publish(site.site_id, input),
    onSuccess: (result) => {
      toasts.push({ tone: "success", text: `${site.code}: ${result.message || "Message published"}` });
      void client.invalidateQueries({ queryKey: queryKeys.siteCommands(site.site_id) });
    },
    onError: () => client.invalidateQueries({ queryKey: queryKeys.siteCommands(site.site_id) }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    publish.mutate(draft);
  };
  const connected = site.status === "connected";
  return (
    <form className="publish" onSubmit={submit} data-testid="publish-form">
      <label className="wide">
        Topic
        <input
          className="mono"
          value={draft.topic}
          onChange={(event) => setDraft({ ...draft, topic: event.target.value })}
          placeholder={`${site.code}/gateway/1/datalogger/monstro/15/input`}
          data-testid="publish-topic"
        />
      </label>
      <label className="wide">
        Message
        <textarea
          className="mono"
          rows={2}
          value={draft.message}
          onChange={(event) => setDraft({ ...draft, message: event.target.value })}
          data-testid="publish-message"
        />
      </label>
      <div className="toolbar tight">
        <select value={draft.qos} onChange={(event) => setDraft({ ...draft, qos: Number(event.target.value) as Qos })} aria-label="QoS">
          <option value={0}>QoS 0</option>
          <option value={1}>QoS 1</option>
          <option value={2}>QoS 2</option>
        </select>
        <label className="check">
          <input type="checkbox" checked={draft.retain} onChange={(event) => setDraft({ ...draft, retain: event.target.checked })} />{" "}
          retain
        </label>
        <button type="submit" className="button primary" disabled={publish.isPending} data-testid="publish-submit">
          {publish.isPending ? "Publishing…" : "Publish"}
        </button>
        {!connected && <span className="muted small">The site is not connected: the broker cannot take it now.</span>}
      </div>
      <ErrorText error={publish.error} />
    </form>
  );
}

export function CommandsPanel({ site }: { site: SiteStatus }) {
  const admin = useIsAdmin();
  const commands = useSiteCommands(site.site_id);
  return (
    <div className="card">
      <h2>Commands</h2>
      {admin && <PublishForm site={site} />}
      {commands.data === undefined ? (
        <Loading error={commands.error} what="commands" />
      ) : (
        <VirtualTable
          rows={commands.data.commands}
          columns={COLUMNS}
          rowKey={(c) => c.command_id}
          maxHeight="40vh"
          empty="No command has been sent to this site."
          testId="commands-table"
        />
      )}
    </div>
  );
}
