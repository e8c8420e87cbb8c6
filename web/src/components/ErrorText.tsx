import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";

/** A failed request in words, next to whatever caused it. */
export function ErrorText({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? error.detail || `HTTP ${error.status}`
      : error instanceof Error && error.name === "TimeoutError"
        ? t("common.timeout")
        : error instanceof Error
          ? error.message
          : String(error);
  return (
    <p className="error-text" role="alert">
      {text}
    </p>
  );
}

/** A query that has not answered yet, or failed (then with a retry button when given one). */
export function Loading({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  if (error) {
    return (
      <div className="load-error">
        <ErrorText error={error} />
        {onRetry && (
          <button type="button" className="button ghost" onClick={onRetry} data-testid="retry">
            {t("common.retry")}
          </button>
        )}
      </div>
    );
  }
  return <p className="muted">{t("common.loading")}</p>;
}
