/**
 * One input of an alerts form with what is wrong with it underneath: the form's own check
 * (a message key) first, else the server's words for that field (data/fieldErrors.ts).
 */

import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import type { InvalidKey } from "../../data/alertForms";

export function FieldProblem({ invalid, server, field }: { invalid?: InvalidKey | undefined; server?: string | undefined; field: string }) {
  const { t } = useTranslation();
  const text = invalid ? t(`alerts.invalid.${invalid}`) : server;
  if (!text) return null;
  return (
    <span className="field-error" role="alert" data-testid={`field-error-${field}`}>
      {text}
    </span>
  );
}

export function Field({
  label,
  field,
  invalid,
  server,
  hint,
  wide,
  children,
}: {
  label: string;
  field: string;
  invalid?: InvalidKey | undefined;
  server?: string | undefined;
  hint?: string | undefined;
  wide?: boolean;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is the children, inside the label.
    <label className={wide ? "wide" : undefined}>
      {label}
      {children}
      {hint && <span className="hint">{hint}</span>}
      <FieldProblem invalid={invalid} server={server} field={field} />
    </label>
  );
}
