/** Publish a command to a device (admins) and the site's command history with outcomes. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import type { Command, CommandOutcome, PublishInput, Qos, SiteStatus } from "../../api/types";
import { useIsAdmin } from "../../auth/useAuth";
import { ErrorText, Loading } from "../../components/ErrorText";
import { VirtualTable, type Column } from "../../components/VirtualTable";
import { queryKeys } from "../../data/queryKeys";
import type { TimeFormat } from "../../format/time";
import { useTimeFormat } from "../../i18n";
import { useSiteCommands } from "../../hooks/queries";
import { useToastStore } from "../../live/ToastContext";

const OUTCOME_TONES: Record<CommandOutcome, string> = { sent: "blue", acked: "green", failed: "red" };

type CommandColumn = "at" | "topic" | "size" | "qos" | "by" | "outcome";

function columns(t: TFunction, format: TimeFormat): Column<Command, CommandColumn>[] {
  return [
  { key: "at", header: t("commands.sent"), width: "9.5rem", priority: 2, render: (c) => format.shortDateTime(c.created_at) },
  { key: "topic", header: t("commands.topic"), width: "minmax(12rem, 2fr)", render: (c) => <span className="mono small">{c.topic}</span> },
  { key: "size", header: t("commands.size"), width: "5rem", align: "right", priority: 3, render: (c) => `${c.payload_size} B` },
  { key: "qos", header: "QoS", width: "4rem", priority: 3, render: (c) => `${c.qos}${c.retain ? " R" : ""}` },
  { key: "by", header: t("commands.by"), width: "9rem", priority: 3, render: (c) => c.sender },
  {
    key: "outcome",
    header: t("commands.outcome"),
    width: "minmax(6rem, 1.5fr)",
    render: (c) => (
      <span title={c.error}>
        <span className={`badge badge-${OUTCOME_TONES[c.outcome] ?? "grey"}`} data-testid="command-outcome" data-outcome={c.outcome}>
          {t(`outcome.${c.outcome}`)}
        </span>{" "}
        {c.error && <span className="error-text inline small">{c.error}</span>}
      </span>
    ),
  },
  ];
}

function PublishForm({ site }: { site: SiteStatus }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const toasts = useToastStore();
  const [draft, setDraft] = useState<PublishInput>({ topic: `${site.code}/`, message: "", qos: 1, retain: false });
  const publish = useMutation({
    mutationFn: (input: PublishInput) => api.publish(site.site_id, input),
    onSuccess: (result) => {
      toasts.push({ tone: "success", key: "published", params: { message: result.message }, siteId: site.site_id });
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
        {t("commands.topic")}
        <input
          className="mono"
          value={draft.topic}
          onChange={(event) => setDraft({ ...draft, topic: event.target.value })}
          placeholder={`${site.code}/gateway/1/datalogger/monstro/15/input`}
          data-testid="publish-topic"
        />
      </label>
      <label className="wide">
        {t("commands.message")}
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
          {t("commands.retain")}
        </label>
        <button
          type="submit"
          className="button primary"
          disabled={publish.isPending || !connected}
          data-testid="publish-submit"
          aria-describedby={connected ? undefined : "publish-why"}
        >
          {publish.isPending ? t("commands.publishing") : t("commands.publish")}
        </button>
        {!connected && (
          <span className="muted small" id="publish-why" data-testid="publish-why">
            {t("commands.notConnected")}
          </span>
        )}
      </div>
      <ErrorText error={publish.error} />
    </form>
  );
}

export function CommandsPanel({ site }: { site: SiteStatus }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const admin = useIsAdmin();
  const commands = useSiteCommands(site.site_id);
  return (
    <div className="card">
      <h2>{t("commands.title")}</h2>
      {admin && <PublishForm site={site} />}
      {commands.data === undefined ? (
        <Loading error={commands.error} onRetry={() => void commands.refetch()} />
      ) : (
        <VirtualTable
          rows={commands.data.commands}
          columns={columns(t, format)}
          rowKey={(c) => c.command_id}
          maxHeight="40vh"
          empty={t("commands.none")}
          testId="commands-table"
        />
      )}
    </div>
  );
}
