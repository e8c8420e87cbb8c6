import { useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, useLocation } from "react-router";
import { useLogout, useMe } from "../auth/useAuth";
import { AlertCount } from "./AlertCount";
import { HealthBanner } from "./HealthBanner";
import { LiveIndicator } from "./LiveIndicator";
import { Preferences } from "./Preferences";
import { Toasts } from "./Toasts";

/**
 * The header and the page. On phones the navigation and the account controls fold into a
 * menu behind one button; it closes when a page is chosen.
 */
export function Layout({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const me = useMe().data;
  const logout = useLogout();
  const admin = me?.role === "admin";
  const [open, setOpen] = useState(false);
  const location = useLocation();
  const [shownAt, setShownAt] = useState(location.pathname);
  if (shownAt !== location.pathname) {
    // A new page: fold the menu (state adjusted during render, as React recommends).
    setShownAt(location.pathname);
    setOpen(false);
  }
  return (
    <div className="app">
      <header className={`topbar${open ? " open" : ""}`}>
        <div className="topbar-main">
          <NavLink to="/" className="brand">
            sitelink
          </NavLink>
          <LiveIndicator />
          <AlertCount />
          <button
            type="button"
            className="menu-toggle"
            aria-expanded={open}
            aria-controls="topbar-menu"
            aria-label={t("nav.menu")}
            data-testid="menu-toggle"
            onClick={() => setOpen(!open)}
          >
            <span aria-hidden="true">{open ? "×" : "☰"}</span>
          </button>
        </div>
        <div className="topbar-menu" id="topbar-menu">
          <nav className="nav" aria-label={t("nav.label")}>
            <NavLink to="/" end>
              {t("nav.fleet")}
            </NavLink>
            <NavLink to="/alerts">{t("nav.alerts")}</NavLink>
            <NavLink to="/cluster">{t("nav.cluster")}</NavLink>
            {admin && <NavLink to="/actors">{t("nav.actors")}</NavLink>}
            {admin && <NavLink to="/audit">{t("nav.audit")}</NavLink>}
            {admin && <NavLink to="/tokens">{t("nav.tokens")}</NavLink>}
          </nav>
          <div className="topbar-right">
            <Preferences />
            {me && (
              <span className="whoami" data-testid="whoami">
                {me.name} <span className={`role role-${me.role}`}>{t(`role.${me.role}`)}</span>
              </span>
            )}
            <button
              type="button"
              className="button ghost logout"
              onClick={() => logout.mutate()}
              disabled={logout.isPending}
              data-testid="logout"
            >
              {t("nav.logout")}
            </button>
          </div>
        </div>
      </header>
      <main className="content">
        <HealthBanner />
        {children}
      </main>
      <Toasts />
    </div>
  );
}
