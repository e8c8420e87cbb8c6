/** One site: its connection, its admin menu and panels, its devices, its commands. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../api/endpoints";
import { useIsAdmin } from "../auth/useAuth";
import { AdminMenu, type MenuItem } from "../components/AdminMenu";
import { AlertBadges } from "../components/AlertBadges";
import { ErrorText, Loading } from "../components/ErrorText";
import { RetryInfo } from "../components/RetryInfo";
import { StatusBadge } from "../components/StatusBadge";
import { queryKeys } from "../data/queryKeys";
import { useSiteConfig, useSiteStatus } from "../hooks/queries";
import { useNow } from "../hooks/useNow";
import { useToastStore } from "../live/ToastContext";
import { CommandsPanel } from "./site/CommandsPanel";
import { ConnectionCard } from "./site/ConnectionCard";
import { DevicesPanel } from "./site/DevicesPanel";
import { DiscoveryPanel } from "./site/DiscoveryPanel";
import { SiteForm } from "./site/SiteForm";
import { TopicsEditor } from "./site/TopicsEditor";

type Panel = "topics" | "discovery" | "settings";

const PANELS: readonly Panel[] = ["topics", "discovery", "settings"];

export function SitePage() {
  const { t } = useTranslation();
  const siteId = Number(useParams().siteId);
  const status = useSiteStatus(siteId);
  const admin = useIsAdmin();
  const [panel, setPanel] = useState<Panel | null>(null);
  const now = useNow(1000);

  const site = status.data;
  if (site === undefined) {
    return (
      <section>
        <p>
          <Link to="/">← {t("nav.fleet")}</Link>
        </p>
        <Loading error={status.error} onRetry={() => void status.refetch()} />
      </section>
    );
  }

  const items: MenuItem[] = [
    { label: t("menu.discover"), onSelect: () => setPanel("discovery"), testId: "action-discovery" },
    { label: t("menu.topics"), onSelect: () => setPanel("topics"), testId: "action-topics" },
    { label: t("menu.settings"), onSelect: () => setPanel("settings"), testId: "action-settings" },
  ];

  return (
    <section>
      <p className="crumbs">
        <Link to="/">← {t("nav.fleet")}</Link>
      </p>
      <div className="page-head">
        <h1>
          {site.site_name} <span className="muted mono">{site.code}</span>
        </h1>
        <StatusBadge status={site.status} />
        <AlertBadges siteId={siteId} />
        {admin && <AdminMenu site={site} items={items} />}
      </div>
      {site.status === "error" && (
        <div className="banner banner-error" data-testid="site-error">
          <strong>{site.error_message || t("site.connectFailed")}</strong> <RetryInfo site={site} nowMs={now} />
        </div>
      )}

      {admin && panel !== null && (
        <div className="card">
          <div className="card-head">
            <h2>{t(`site.panels.${panel}`)}</h2>
            <div className="tabs">
              {PANELS.map((p) => (
                <button key={p} type="button" className={`tab${p === panel ? " active" : ""}`} onClick={() => setPanel(p)}>
                  {t(`site.panels.${p}`)}
                </button>
              ))}
              <button type="button" className="button ghost" onClick={() => setPanel(null)} aria-label={t("common.close")}>
                ×
              </button>
            </div>
          </div>
          {panel === "topics" && <TopicsEditor siteId={siteId} />}
          {panel === "discovery" && <DiscoveryPanel siteId={siteId} />}
          {panel === "settings" && <SettingsPanel siteId={siteId} onDone={() => setPanel(null)} />}
        </div>
      )}

      <ConnectionCard site={site} nowMs={now} />
      <DevicesPanel siteId={siteId} nowMs={now} />
      <CommandsPanel site={site} />
    </section>
  );
}

function SettingsPanel({ siteId, onDone }: { siteId: number; onDone: () => void }) {
  const config = useSiteConfig(siteId);
  if (config.data === undefined) return <Loading error={config.error} onRetry={() => void config.refetch()} />;
  return (
    <>
      <SiteForm existing={config.data} onDone={onDone} />
      <DeleteSite siteId={siteId} code={config.data.code} />
    </>
  );
}

function DeleteSite({ siteId, code }: { siteId: number; code: string }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const navigate = useNavigate();
  const toasts = useToastStore();
  const remove = useMutation({
    mutationFn: () => api.deleteSite(siteId),
    onSuccess: () => {
      client.removeQueries({ queryKey: queryKeys.site(siteId) });
      void client.invalidateQueries({ queryKey: queryKeys.siteList() });
      toasts.push({ tone: "info", key: "siteDeleted", params: { code }, siteId });
      void navigate("/");
    },
  });
  return (
    <div className="danger-zone">
      <div>
        <strong>{t("site.delete.title")}</strong>
        <p className="muted">{t("site.delete.explain")}</p>
        <ErrorText error={remove.error} />
      </div>
      <button
        type="button"
        className="button danger"
        disabled={remove.isPending}
        data-testid="delete-site"
        onClick={() => {
          if (window.confirm(t("site.delete.confirm", { code }))) remove.mutate();
        }}
      >
        {t("site.delete.button")}
      </button>
    </div>
  );
}
