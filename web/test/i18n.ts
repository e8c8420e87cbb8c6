/** The real messages in node, for tests that check what a user reads. */
import i18next, { type TFunction } from "i18next";
import type { ToastSpec } from "../src/data/eventPlan";
import { toastText, type SiteName } from "../src/data/toastText";
import { en } from "../src/i18n/en";
import { it as italian } from "../src/i18n/it";

export function translator(language: "en" | "it"): TFunction {
  const instance = i18next.createInstance();
  void instance.init({
    resources: { en: { translation: en }, it: { translation: italian } },
    lng: language,
    initAsync: false,
    interpolation: { escapeValue: false },
  });
  return instance.t;
}

const english = translator("en");

/** A toast as an English reader sees it, with these sites in the cache. */
export function toastInEnglish(toast: ToastSpec | null | undefined, sites: readonly (SiteName & { site_id: number })[] = []): string | null {
  if (!toast) return null;
  return toastText(toast, english, (id) => sites.find((s) => s.site_id === id));
}
