import { useState } from "react";
import { useTranslation } from "react-i18next";
import { chooseLanguage } from "../i18n";
import { LANGUAGES, type Language } from "../i18n/language";
import { applyTheme, storedTheme, THEMES, type Theme } from "../theme";

/** Language and theme pickers of the header (both remembered in this browser). */
export function Preferences() {
  const { t, i18n } = useTranslation();
  const [theme, setTheme] = useState<Theme>(storedTheme);
  return (
    <div className="prefs">
      <select
        value={i18n.resolvedLanguage}
        onChange={(event) => chooseLanguage(event.target.value as Language)}
        aria-label={t("prefs.language")}
        data-testid="language"
      >
        {LANGUAGES.map((language) => (
          <option key={language} value={language}>
            {t(`prefs.languages.${language}`)}
          </option>
        ))}
      </select>
      <select
        value={theme}
        onChange={(event) => {
          const next = event.target.value as Theme;
          applyTheme(next);
          setTheme(next);
        }}
        aria-label={t("prefs.theme")}
        data-testid="theme"
      >
        {THEMES.map((option) => (
          <option key={option} value={option}>
            {t(`prefs.themes.${option}`)}
          </option>
        ))}
      </select>
    </div>
  );
}
