import type { ReactNode } from "react";
import { NavLink } from "react-router";
import { useLogout, useMe } from "../auth/useAuth";
import { LiveIndicator } from "./LiveIndicator";
import { Toasts } from "./Toasts";

export function Layout({ children }: { children: ReactNode }) {
  const me = useMe().data;
  const logout = useLogout();
  const admin = me?.role === "admin";
  return (
    <div className="app">
      <header className="topbar">
        <NavLink to="/" className="brand">
          sitelink
        </NavLink>
        <nav className="nav">
          <NavLink to="/" end>
            Fleet
          </NavLink>
          {admin && <NavLink to="/actors">Actors</NavLink>}
          {admin && <NavLink to="/audit">Audit</NavLink>}
        </nav>
        <div className="topbar-right">
          <LiveIndicator />
          {me && (
            <span className="whoami" data-testid="whoami">
              {me.name} <span className={`role role-${me.role}`}>{me.role}</span>
            </span>
          )}
          <button type="button" className="button ghost" onClick={() => logout.mutate()} disabled={logout.isPending}>
            Log out
          </button>
        </div>
      </header>
      <main className="content">{children}</main>
      <Toasts />
    </div>
  );
}
