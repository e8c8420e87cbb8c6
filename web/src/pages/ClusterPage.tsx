/**
 * The cluster (issue 14): every live instance with its start, its last heartbeat (ticking),
 * how many sites it runs and its site workers, and a warning when enabled sites are run by no
 * instance; and the changes (joins, departures, moves) the live stream announced. Refetched on
 * `cluster.changed` events and every 10 s (hooks/queries.ts).
 */

import { useSyncExternalStore } from "react";
import { useTranslation } from "react-i18next";
import type { ClusterChangedEvent } from "../api/events";
import type { ClusterAnswer, ClusterInstance, ClusterWorker } from "../api/types";
import { Loading } from "../components/ErrorText";
import { changeKind, orderInstances, runningSites, WORKER_TONES } from "../data/cluster";
import { clusterChanges } from "../data/clusterChanges";
import { useCluster } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { useTimeFormat } from "../i18n";

function WorkerRow({ worker }: { worker: ClusterWorker }) {
  const { t } = useTranslation();
  return (
    <li className="worker-row" data-testid="worker-row">
      <span className="tag">{t("cluster.worker", { n: worker.worker })}</span>
      <span className={`badge badge-${WORKER_TONES[worker.state] ?? "grey"}`} data-state={worker.state}>
        {t(`cluster.states.${worker.state}`, { defaultValue: worker.state })}
      </span>
      <span className="mono small">{worker.pid === null ? t("cluster.noPid") : t("cluster.pid", { pid: worker.pid })}</span>
      <span className="small">{t("cluster.workerSites", { count: worker.sites })}</span>
      <span className="muted small">{t("cluster.restarts", { count: worker.restarts })}</span>
    </li>
  );
}

function InstanceCard({ instance, self, nowMs }: { instance: ClusterInstance; self: boolean; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  return (
    <div className="card instance-card" data-testid="instance-card" data-instance={instance.instance_id}>
      <div className="card-head">
        <h2 className="mono instance-id">{instance.instance_id}</h2>
        {self && (
          <span className="badge badge-blue" data-testid="this-instance">
            {t("cluster.thisInstance")}
          </span>
        )}
      </div>
      <dl className="facts">
        <dt>{t("cluster.started")}</dt>
        <dd title={format.dateTime(instance.started_at)}>
          {format.shortDateTime(instance.started_at)} · {format.ago(instance.started_at, nowMs) ?? "—"}
        </dd>
        <dt>{t("cluster.lastSeen")}</dt>
        <dd title={format.dateTime(instance.last_seen_at)} data-testid="last-seen">
          {format.ago(instance.last_seen_at, nowMs) ?? "—"}
        </dd>
        <dt>{t("cluster.sites")}</dt>
        <dd data-testid="instance-sites">{format.number(instance.sites)}</dd>
        <dt>{t("cluster.workers")}</dt>
        <dd>
          {instance.workers.length === 0 ? (
            <span className="muted">{t("cluster.noWorkers")}</span>
          ) : (
            <ul className="plain worker-list">
              {instance.workers.map((worker) => (
                <WorkerRow key={worker.worker} worker={worker} />
              ))}
            </ul>
          )}
        </dd>
      </dl>
    </div>
  );
}

/** The changes the live stream announced, newest first (rendered in tests without a browser). */
export function ClusterChangeList({ changes, nowMs }: { changes: readonly ClusterChangedEvent[]; nowMs: number }) {
  const { t } = useTranslation();
  const format = useTimeFormat();
  return (
    <div className="card" data-testid="cluster-changes">
      <h2>{t("cluster.changes")}</h2>
      {changes.length === 0 ? (
        <p className="muted">{t("cluster.changesNone")}</p>
      ) : (
        <ol className="plain change-list">
          {changes.map((change, index) => {
            const moves = [
              change.gained.length > 0 ? t("cluster.gained", { count: change.gained.length }) : "",
              change.released.length > 0 ? t("cluster.released", { count: change.released.length }) : "",
            ].filter(Boolean);
            return (
              // biome-ignore lint/suspicious/noArrayIndexKey: changes carry no id and two can share a time; the list only grows at its head
              <li key={`${change.at}-${index}`} className="change-row" data-testid="cluster-change">
                <span className="muted small" title={format.dateTime(change.at)}>
                  {format.ago(change.at, nowMs) ?? "—"}
                </span>
                <span>
                  {t(`cluster.changeKinds.${changeKind(change.change)}`, { instance: change.instance_id || "?" })}
                  {moves.length > 0 ? ` · ${moves.join(", ")}` : ""}
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}

/** The page's body for one answer (rendered in tests without a browser). */
export function ClusterView({ answer, nowMs }: { answer: ClusterAnswer; nowMs: number }) {
  const { t } = useTranslation();
  return (
    <>
      <p className="cluster-summary" data-testid="cluster-summary">
        <span className="tag">{t(`cluster.engines.${answer.engine}`, { defaultValue: answer.engine })}</span>{" "}
        {t("cluster.instances", { count: answer.instances.length })} ·{" "}
        {t("cluster.totalSites", { count: runningSites(answer) })}
      </p>
      {answer.unowned_sites > 0 ? (
        <div className="banner banner-warning" role="alert" data-testid="unowned-sites">
          {t("cluster.unowned", { count: answer.unowned_sites })}
        </div>
      ) : (
        <p className="muted">{t("cluster.allOwned")}</p>
      )}
      <div className="grid-2">
        {orderInstances(answer).map((instance) => (
          <InstanceCard
            key={instance.instance_id}
            instance={instance}
            self={instance.instance_id === answer.instance_id}
            nowMs={nowMs}
          />
        ))}
      </div>
    </>
  );
}

export function ClusterPage() {
  const { t } = useTranslation();
  const cluster = useCluster();
  const now = useNow(1000);
  const changes = useSyncExternalStore(clusterChanges.subscribe, clusterChanges.list);
  return (
    <section>
      <div className="page-head">
        <h1>{t("cluster.title")}</h1>
        {cluster.data && <span className="muted">{t("cluster.answeredBy", { id: cluster.data.instance_id })}</span>}
      </div>
      {/* A failed read shows its error with a retry, even while an older answer is still at hand. */}
      {cluster.error && cluster.data !== undefined && <Loading error={cluster.error} onRetry={() => void cluster.refetch()} />}
      {cluster.data === undefined ? (
        <Loading error={cluster.error} onRetry={() => void cluster.refetch()} />
      ) : (
        <ClusterView answer={cluster.data} nowMs={now} />
      )}
      <ClusterChangeList changes={changes} nowMs={now} />
    </section>
  );
}
