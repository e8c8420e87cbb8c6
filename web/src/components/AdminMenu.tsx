/**
 * The admin (shield) menu of a site: start, stop, reconnect, and whatever else the page adds.
 * Its icon spins while a control request is in flight or the site is starting or stopping,
 * exactly as the replaced UI did. Render it only for admins.
 */

import { useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { useTranslation } from "react-i18next";
import type { ControlAction } from "../api/endpoints";
import type { SiteStatus } from "../api/types";
import { isTransient } from "../format/status";
import { useSiteControl } from "../hooks/useSiteControl";
import { ShieldIcon, SpinnerIcon } from "./icons";

export interface MenuItem {
  label: string;
  onSelect: () => void;
  danger?: boolean;
  testId?: string;
}

/** Where the list opens under its button, in viewport coordinates. */
function anchorOf(button: HTMLElement | null): { top: number; right: number } | null {
  const rect = button?.getBoundingClientRect();
  return rect ? { top: rect.bottom + 4, right: window.innerWidth - rect.right } : null;
}

export function AdminMenu({ site, items = [] }: { site: SiteStatus; items?: readonly MenuItem[] }) {
  const { t } = useTranslation();
  const control = useSiteControl();
  const ref = useRef<HTMLDivElement>(null);
  const listRef = useRef<HTMLDivElement>(null);
  // Where the list opens, in viewport coordinates. The menu lives inside virtualised rows
  // (transformed, in a scrolling box), so the list is portalled to <body> and placed `fixed`.
  const [anchor, setAnchor] = useState<{ top: number; right: number } | null>(null);
  const open = anchor !== null;
  const setOpen = (value: boolean) => setAnchor(value ? anchorOf(ref.current) : null);
  const busy = control.isPending || isTransient(site.status);

  useEffect(() => {
    if (!open) return;
    const place = () => setAnchor(anchorOf(ref.current));
    const close = (event: MouseEvent | KeyboardEvent) => {
      const inside = (node: Node) => ref.current?.contains(node) === true || listRef.current?.contains(node) === true;
      if (event instanceof KeyboardEvent ? event.key === "Escape" : !inside(event.target as Node)) {
        setAnchor(null);
      }
    };
    // The list follows its button when anything scrolls or the window resizes.
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    window.addEventListener("scroll", place, true);
    window.addEventListener("resize", place);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
      window.removeEventListener("scroll", place, true);
      window.removeEventListener("resize", place);
    };
  }, [open]);

  const act = (action: ControlAction) => {
    control.mutate({ siteId: site.site_id, action });
  };

  const controls: MenuItem[] = site.is_enabled
    ? [
        { label: t("menu.stop"), onSelect: () => act("stop"), testId: "action-stop" },
        { label: t("menu.reconnect"), onSelect: () => act("reconnect"), testId: "action-reconnect" },
      ]
    : [{ label: t("menu.start"), onSelect: () => act("start"), testId: "action-start" }];

  return (
    <div className="menu" ref={ref}>
      <button
        type="button"
        className="icon-button"
        aria-label={t("menu.label", { code: site.code })}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-busy={busy}
        data-testid="admin-menu"
        onClick={() => setOpen(!open)}
      >
        {busy ? <SpinnerIcon /> : <ShieldIcon />}
      </button>
      {anchor &&
        createPortal(
          <div className="menu-list" role="menu" ref={listRef} style={{ top: anchor.top, right: anchor.right }}>
            {[...controls, ...items].map((item) => (
              <button
                key={item.label}
                type="button"
                role="menuitem"
                className={item.danger ? "danger" : undefined}
                data-testid={item.testId}
                onClick={() => {
                  setOpen(false);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            ))}
          </div>,
          document.body,
        )}
    </div>
  );
}
