/**
 * A site's or a datalogger's alerts that still last, as badges on its page: "alert firing" /
 * "3 alerts pending", each linking to the most important of them on the Alerts page.
 */

import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import type { Alert, AlertState } from "../api/types";
import { activeAlertsOf } from "../data/alerts";
import { useAlertsByState } from "../hooks/alertQueries";

const ACTIVE = ["firing", "pending"] as const satisfies readonly AlertState[];

export function alertLink(alert: Alert): string {
  return `/alerts?alert=${alert.id}${alert.site_id === null ? "" : `&site=${alert.site_id}`}`;
}

export function AlertBadges({ siteId, deviceId }: { siteId: number; deviceId?: number }) {
  const { t } = useTranslation();
  const lists = useAlertsByState(ACTIVE, siteId);
  const alerts = activeAlertsOf(
    lists.flatMap((q) => q.data?.alerts ?? []),
    deviceId === undefined ? { siteId } : { siteId, deviceId },
  );
  return (
    <>
      {ACTIVE.map((state) => {
        const of = alerts.filter((a) => a.state === state);
        const first = of[0];
        if (first === undefined) return null;
        return (
          <Link
            key={state}
            to={alertLink(first)}
            className={`badge ${state === "firing" ? "badge-red" : "badge-amber"} alert-badge`}
            title={first.message}
            data-testid="alert-badge"
            data-state={state}
          >
            {t(`alerts.badge.${state}`, { count: of.length })}
          </Link>
        );
      })}
    </>
  );
}
