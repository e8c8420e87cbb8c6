/**
 * The header's count of firing alerts, for admins and viewers alike, linking to the Alerts
 * page. The list behind it is edited in place by `alert.*` events, so the number changes the
 * moment an alert fires or resolves.
 */

import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { FIRING, firingCount } from "../data/alerts";
import { useAlerts } from "../hooks/alertQueries";
import { BellIcon } from "./icons";

export function AlertCount() {
  const { t } = useTranslation();
  const count = firingCount(useAlerts(FIRING).data);
  const n = count?.count ?? 0;
  const label =
    count === null ? t("alerts.title") : count.more ? t("alerts.headerMore", { count: n }) : n === 0 ? t("alerts.headerNone") : t("alerts.header", { count: n });
  return (
    <Link
      to="/alerts"
      className={`alert-count${n > 0 ? " firing" : ""}`}
      title={label}
      data-testid="alert-count"
      data-count={count === null ? "" : n}
    >
      <BellIcon />
      <span className="alert-count-n">{count === null ? "…" : `${n}${count.more ? "+" : ""}`}</span>
      {/* The words for screen readers; the name still holds the number that shows (WCAG 2.5.3). */}
      <span className="visually-hidden">{label}</span>
    </Link>
  );
}
