/**
 * The language of the dashboard and the locale of its dates and numbers. The browser's
 * language picks the default; a choice made in the header is remembered in localStorage.
 * Pure apart from the two accessors at the bottom, so the choice is tested in node.
 */

export const LANGUAGES = ["en", "it"] as const;
export type Language = (typeof LANGUAGES)[number];

export const LANGUAGE_KEY = "sitelink.language";

function isLanguage(value: string | null | undefined): value is Language {
  return value === "en" || value === "it";
}

/** The stored choice if any, else the first of the browser's languages we have, else English. */
export function pickLanguage(stored: string | null, browser: readonly string[]): Language {
  if (isLanguage(stored)) return stored;
  for (const tag of browser) {
    const base = tag.toLowerCase().split("-")[0];
    if (isLanguage(base)) return base;
  }
  return "en";
}

/**
 * The locale for Intl: the browser's own tag for the chosen language (en-GB keeps its
 * 24-hour clock, en-US its 12-hour one), else the language's usual region.
 */
export function localeFor(language: Language, browser: readonly string[]): string {
  const own = browser.find((tag) => tag.toLowerCase().split("-")[0] === language);
  return own ?? (language === "it" ? "it-IT" : "en-US");
}

export function browserLanguages(): readonly string[] {
  return typeof navigator === "undefined" ? [] : navigator.languages.length ? navigator.languages : [navigator.language];
}

export function storedLanguage(): string | null {
  try {
    return localStorage.getItem(LANGUAGE_KEY);
  } catch {
    return null;
  }
}
