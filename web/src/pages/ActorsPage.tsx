/** The live actor tree: supervisor → sites → devices, refreshed every 2 s and on events. */

import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import type { ActorNode } from "../api/types";
import { Loading } from "../components/ErrorText";
import { ChevronIcon } from "../components/icons";
import { useActors } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { useTimeFormat } from "../i18n";
import { en } from "../i18n/en";

type ActorState = keyof typeof en.actors.states;
type ActorKind = keyof typeof en.actors.kinds;
const isState = (state: string): state is ActorState => state in en.actors.states;
const isKind = (kind: string): kind is ActorKind => kind in en.actors.kinds;

const STATE_TONES: Record<string, string> = {
  running: "green",
  connected: "green",
  online: "green",
  connecting: "blue",
  error: "red",
  offline: "red",
  unreachable: "amber",
  disconnected: "orange",
  disabled: "orange",
  stopped: "grey",
  unknown: "grey",
};

/** Keeps nodes whose name matches, with their ancestors; all of a matching node's children stay. */
function filterTree(nodes: readonly ActorNode[], needle: string): ActorNode[] {
  if (!needle) return [...nodes];
  const out: ActorNode[] = [];
  for (const node of nodes) {
    if (node.name.toLowerCase().includes(needle)) out.push(node);
    else {
      const children = filterTree(node.children ?? [], needle);
      if (children.length > 0) out.push({ ...node, children });
    }
  }
  return out;
}

function ActorRow({ node, depth, nowMs, openAll }: { node: ActorNode; depth: number; nowMs: number; openAll: boolean }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  // The root and its workers are open; sites start closed, so a thousand sites are a thousand
  // rows, not twenty thousand.
  const [open, setOpen] = useState(depth === 0 || node.kind === "worker");
  const children = node.children ?? [];
  const shown = open || openAll;
  const expandable = children.length > 0;
  const since = node.started_at ? format.ago(node.started_at, nowMs) : null;
  return (
    <li>
      {/* The whole row opens and closes a node with children; the chevron button is its
          keyboard and screen-reader handle, so the row's click is a pointer convenience. */}
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: the chevron button inside is the keyboard handle */}
      {/* biome-ignore lint/a11y/noStaticElementInteractions: as above */}
      <div
        className={`actor${expandable ? " expandable" : ""}`}
        style={{ paddingLeft: `${depth * 1.25}rem` }}
        data-testid="actor-row"
        onClick={expandable ? () => setOpen(!open) : undefined}
      >
        {expandable ? (
          <button
            type="button"
            className="icon-button small"
            onClick={(event) => {
              event.stopPropagation();
              setOpen(!open);
            }}
            aria-expanded={shown}
            aria-label={t("actors.toggle", { name: node.name })}
          >
            <ChevronIcon open={shown} />
          </button>
        ) : (
          <span className="icon-spacer" />
        )}
        <span className="tag">{isKind(node.kind) ? t(`actors.kinds.${node.kind}`) : node.kind}</span>
        <span className="mono actor-name">{node.name}</span>
        <span className={`badge badge-${STATE_TONES[node.state] ?? "grey"}`} data-state={node.state}>
          {isState(node.state) ? t(`actors.states.${node.state}`) : node.state}
        </span>
        <span className="muted small actor-stats">
          {t("actors.stats", { mailbox: node.mailbox, processed: format.number(node.processed), restarts: node.restarts })}
          {since ? ` · ${t("actors.since", { ago: since })}` : ""}
          {expandable ? ` · ${t("actors.children", { count: children.length })}` : ""}
        </span>
      </div>
      {shown && expandable && (
        <ul className="plain">
          {children.map((child) => (
            <ActorRow key={child.urn || child.name} node={child} depth={depth + 1} nowMs={nowMs} openAll={openAll} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function ActorsPage() {
  const { t } = useTranslation();
  const actors = useActors();
  const now = useNow(2000);
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const roots = useMemo(() => filterTree(actors.data?.actors ?? [], needle), [actors.data, needle]);
  return (
    <section>
      <div className="page-head">
        <h1>{t("actors.title")}</h1>
        {actors.data && <span className="muted">{t("actors.instance", { id: actors.data.instance_id })}</span>}
        <input
          type="search"
          className="search"
          placeholder={t("actors.find")}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          aria-label={t("actors.find")}
        />
      </div>
      {/* A failed read shows its error with a retry, even while an older tree is still at hand. */}
      {actors.error && actors.data !== undefined && <Loading error={actors.error} onRetry={() => void actors.refetch()} />}
      {actors.data === undefined ? (
        <Loading error={actors.error} onRetry={() => void actors.refetch()} />
      ) : (
        <div className="card">
          <ul className="plain actor-tree" data-testid="actor-tree">
            {roots.map((node) => (
              <ActorRow key={node.urn || node.name} node={node} depth={0} nowMs={now} openAll={needle !== ""} />
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
