import { useTranslation } from "react-i18next";
import { useHealth } from "../hooks/queries";

/**
 * What `/api/v1/mqtt/health/` says, above every page: red while the service or its storage is
 * down (HTTP 503) or health cannot be read at all, amber while some enabled site is not
 * connected; nothing while all is well.
 */
export function HealthBanner() {
  const { t } = useTranslation();
  const health = useHealth();
  if (health.data === undefined) {
    if (!health.error) return null;
    return (
      <div className="banner banner-error" role="alert" data-testid="health-banner" data-health="unreachable">
        {t("health.unreachable")}
      </div>
    );
  }
  const h = health.data;
  if (h.status === "healthy") return null;
  if (h.status === "unhealthy") {
    const parts: string[] = [];
    if (!h.service.running) parts.push(t("health.serviceDown"));
    if (!h.storage.ok) parts.push(t("health.storageDown", { engine: h.storage.engine }));
    return (
      <div className="banner banner-error" role="alert" data-testid="health-banner" data-health="unhealthy">
        <strong>{t("health.unhealthy")}</strong> {parts.join(" · ")}
      </div>
    );
  }
  return (
    <div className="banner banner-warning" role="status" data-testid="health-banner" data-health="degraded">
      {t("health.degraded", { count: h.connections.unhealthy, enabled: h.connections.enabled })}
    </div>
  );
}
