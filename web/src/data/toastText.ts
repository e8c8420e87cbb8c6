/**
 * A toast in words. Pure given its `t` and a way to find a site, so tests render real toasts
 * with the real messages. A site is always named one way, "name (code)"; a site the cache does
 * not know (yet, or any more) falls back to what the toast carried, then to its number.
 */

import type { TFunction } from "i18next";
import type { ToastSpec } from "./eventPlan";

export interface SiteName {
  site_name: string;
  code: string;
}

export function toastText(toast: ToastSpec, t: TFunction, findSite: (siteId: number) => SiteName | undefined): string {
  const params: Record<string, string | number> = { ...toast.params };
  if (typeof params.status === "string") params.status = t(`status.${params.status}` as "status.connected");
  if (typeof params.action === "string") params.action = t(`actions.${params.action}` as "actions.start");
  if (typeof params.verb === "string") params.verb = t(`verbs.${params.verb}` as "verbs.start");
  if (typeof params.outcome === "string") params.outcome = t(`outcome.${params.outcome}` as "outcome.sent");
  if (toast.siteId !== undefined) {
    const site = findSite(toast.siteId);
    const name = site?.site_name ?? params.name;
    const code = site?.code ?? params.code;
    params.site =
      name !== undefined && code !== undefined
        ? t("site.named", { name, code })
        : code !== undefined
          ? String(code)
          : t("site.numbered", { id: toast.siteId });
  }
  return t(`toast.${toast.key}`, params);
}
