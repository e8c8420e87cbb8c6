/**
 * i18next with react-i18next: English and Italian, the browser's language by default, the
 * header's choice remembered. The messages are TypeScript objects (en.ts is the reference,
 * it.ts must have the same keys, which the compiler checks), so a missing or misspelt key is
 * a build error, not a blank on the page.
 */

import i18next from "i18next";
import { useMemo } from "react";
import { initReactI18next, useTranslation } from "react-i18next";
import { TimeFormat } from "../format/time";
import { en } from "./en";
import { it } from "./it";
import { browserLanguages, LANGUAGE_KEY, localeFor, pickLanguage, storedLanguage, type Language } from "./language";

declare module "i18next" {
  interface CustomTypeOptions {
    resources: { translation: typeof en };
  }
}

export function setupI18n(): typeof i18next {
  const language = pickLanguage(storedLanguage(), browserLanguages());
  void i18next.use(initReactI18next).init({
    resources: { en: { translation: en }, it: { translation: it } },
    lng: language,
    fallbackLng: "en",
    // React escapes what it renders.
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  document.documentElement.lang = language;
  return i18next;
}

export function chooseLanguage(language: Language): void {
  try {
    localStorage.setItem(LANGUAGE_KEY, language);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  document.documentElement.lang = language;
  void i18next.changeLanguage(language);
}

/** The formatter of dates, times and numbers for the current language (see format/time.ts). */
export function useTimeFormat(): TimeFormat {
  const { i18n } = useTranslation();
  const language = (i18n.resolvedLanguage ?? "en") as Language;
  return useMemo(() => new TimeFormat(localeFor(language, browserLanguages())), [language]);
}
