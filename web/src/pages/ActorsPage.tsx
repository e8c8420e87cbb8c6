/** The live actor tree: supervisor → sites → devices, refreshed every 2 s and on events. */

import { useMemo, useState } from "react";
import type { ActorNode } from "../api/types";
import { ChevronIcon } from "../components/icons";
import { Loading } from "../components/ErrorText";
import { formatAgo } from "../format/time";
import { useActors } from "../hooks/queries";
import { useNow } from "../hooks/useNow";

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
  // The root is open; sites start closed, so a thousand sites are a thousand rows, not twenty thousand.
  const [open, setOpen] = useState(depth === 0);
  const children = node.children ?? [];
  const shown = open || openAll;
  return (
    <li>
      <div className="actor" style={{ paddingLeft: `${depth * 1.25}rem` }} data-testid="actor-row">
        {children.length > 0 ? (
          <button type="button" className="icon-button small" onClick={() => setOpen(!open)} aria-expanded={shown}>
            <ChevronIcon open={shown} />
          </button>
        ) : (
          <span className="icon-spacer" />
        )}
        <span className="tag">{node.kind}</span>
        <span className="mono actor-name">{node.name}</span>
        <span className={`badge badge-${STATE_TONES[node.state] ?? "grey"}`}>{node.state}</span>
        <span className="muted small actor-stats">
          mailbox {node.mailbox} · processed {node.processed.toLocaleString()} · restarts {node.restarts}
          {node.started_at ? ` · up since ${formatAgo(node.started_at, nowMs).replace(" ago", "")}` : ""}
          {children.length > 0 ? ` · ${children.length} children` : ""}
        </span>
      </div>
      {shown && children.length > 0 && (
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
  const actors = useActors();
  const now = useNow(2000);
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const roots = useMemo(() => filterTree(actors.data?.actors ?? [], needle), [actors.data, needle]);
  return (
    <section>
      <div className="page-head">
        <h1>Actors</h1>
        {actors.data && <span className="muted">instance {actors.data.instance_id}</span>}
        <input
          type="search"
          className="search"
          placeholder="Find an actor by name"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          aria-label="Find an actor"
        />
      </div>
      {actors.data === undefined ? (
        <Loading error={actors.error} what="actor tree" />
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
