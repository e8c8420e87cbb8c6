/**
 * Alerts: what is firing or pending (firing first, each with its ticking duration), then the
 * history of resolved alerts with each notification attempt; filters by state and site kept
 * in the URL (`?state=firing&site=3`, `?alert=12` highlights one). Tabs for silences, rules
 * and (admins) channels.
 */

import { useEffect, useMemo } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { ALERT_STATES, type AlertState } from "../api/types";
import { useIsAdmin } from "../auth/useAuth";
import { Loading } from "../components/ErrorText";
import { pageOrder } from "../data/alerts";
import { withParams } from "../data/urlState";
import { useAlertChannels, useAlertRules, useAlertsByState } from "../hooks/alertQueries";
import { useSites } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { AlertItem, type Names } from "./alerts/AlertItem";
import { ChannelsPanel, RulesPanel, SilencesPanel } from "./alerts/ConfigPanels";

type Tab = "alerts" | "silences" | "rules" | "channels";

function AlertLists({ states, siteId, names, admin, highlight }: { states: readonly AlertState[]; siteId: number | null; names: Names; admin: boolean; highlight: number | null }) {
  const { t } = useTranslation();
  const now = useNow(1000);
  const queries = useAlertsByState(states, siteId);
  const failed = queries.find((q) => q.error)?.error;
  const loading = queries.some((q) => q.data === undefined);
  const all = queries.flatMap((q) => q.data?.alerts ?? []);
  const active = pageOrder(all.filter((a) => a.state !== "resolved"));
  const history = pageOrder(all.filter((a) => a.state === "resolved"));
  const showActive = states.includes("firing") || states.includes("pending");
  const showHistory = states.includes("resolved");

  useEffect(() => {
    if (highlight !== null && !loading) document.getElementById(`alert-${highlight}`)?.scrollIntoView({ block: "center" });
  }, [highlight, loading]);

  if (loading) return <Loading error={failed} onRetry={() => queries.forEach((q) => void q.refetch())} />;
  const list = (alerts: typeof all, empty: string, testId: string) =>
    alerts.length === 0 ? (
      <p className="muted">{empty}</p>
    ) : (
      <ul className="plain alert-list" data-testid={testId}>
        {alerts.map((alert) => (
          <AlertItem key={alert.id} alert={alert} names={names} admin={admin} nowMs={now} highlighted={alert.id === highlight} />
        ))}
      </ul>
    );
  return (
    <>
      {showActive && (
        <div className="card">
          <h2>
            {t("alerts.active")} <span className="count">{active.length}</span>
          </h2>
          {list(active, t("alerts.noActive"), "alerts-active")}
        </div>
      )}
      {showHistory && (
        <div className="card">
          <h2>{t("alerts.history")}</h2>
          {list(history, t("alerts.noHistory"), "alerts-history")}
        </div>
      )}
    </>
  );
}

export function AlertsPage() {
  const { t } = useTranslation();
  const admin = useIsAdmin();
  const [params, setParams] = useSearchParams();
  const tabs: readonly Tab[] = admin ? ["alerts", "silences", "rules", "channels"] : ["alerts", "silences", "rules"];
  const tab = tabs.find((x) => x === params.get("tab")) ?? "alerts";
  const stateParam = params.get("state");
  const state = ALERT_STATES.find((s) => s === stateParam) ?? null;
  const siteParam = Number(params.get("site"));
  const siteId = Number.isInteger(siteParam) && siteParam > 0 ? siteParam : null;
  const alertParam = Number(params.get("alert"));
  const highlight = Number.isInteger(alertParam) && alertParam > 0 ? alertParam : null;
  const now = useNow(10_000);

  const siteList = useSites().data?.sites;
  const rules = useAlertRules().data?.rules;
  const channels = useAlertChannels(admin).data?.channels;
  const names = useMemo<Names>(
    () => ({
      sites: new Map((siteList ?? []).map((s) => [s.site_id, s])),
      rules: new Map((rules ?? []).map((r) => [r.id, r])),
      channels: new Map((channels ?? []).map((c) => [c.id, c])),
    }),
    [siteList, rules, channels],
  );
  const set = (values: Record<string, string | null>) => setParams(withParams(params, values), { replace: true });

  return (
    <section>
      <div className="page-head">
        <h1>{t("alerts.title")}</h1>
        <div className="tabs" role="tablist">
          {tabs.map((x) => (
            <button
              key={x}
              type="button"
              role="tab"
              aria-selected={x === tab}
              className={`tab${x === tab ? " active" : ""}`}
              onClick={() => set({ tab: x === "alerts" ? null : x })}
              data-testid={`alerts-tab-${x}`}
            >
              {t(`alerts.tabs.${x}`)}
            </button>
          ))}
        </div>
      </div>
      {tab === "alerts" && (
        <>
          <div className="toolbar">
            <label className="inline">
              {t("alerts.filterState")}
              <select value={state ?? ""} onChange={(e) => set({ state: e.target.value || null, alert: null })} data-testid="alerts-state">
                <option value="">{t("alerts.anyState")}</option>
                {ALERT_STATES.map((s) => (
                  <option key={s} value={s}>
                    {t(`alerts.states.${s}`)}
                  </option>
                ))}
              </select>
            </label>
            <label className="inline">
              {t("alerts.filterSite")}
              <select value={siteId ?? ""} onChange={(e) => set({ site: e.target.value || null, alert: null })} data-testid="alerts-site">
                <option value="">{t("alerts.anySite")}</option>
                {(siteList ?? []).map((s) => (
                  <option key={s.site_id} value={s.site_id}>
                    {t("site.named", { name: s.site_name, code: s.code })}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <AlertLists states={state ? [state] : ALERT_STATES} siteId={siteId} names={names} admin={admin} highlight={highlight} />
        </>
      )}
      {tab === "silences" && <SilencesPanel admin={admin} sites={names.sites} nowMs={now} />}
      {tab === "rules" && <RulesPanel admin={admin} sites={names.sites} />}
      {tab === "channels" && admin && <ChannelsPanel />}
    </section>
  );
}
