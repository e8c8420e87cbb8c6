import { useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { cachedSite } from "../data/applyEvent";
import { toastText } from "../data/toastText";
import { useToastState, useToastStore } from "../live/ToastContext";

export function Toasts() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const { toasts, dropped } = useToastState();
  const store = useToastStore();
  return (
    <div className="toasts" role="status" aria-live="polite">
      {dropped > 0 && (
        <button type="button" className="toast toast-more" onClick={() => store.clearDropped()}>
          {t("toast.more", { count: dropped })}
        </button>
      )}
      {toasts.map((toast) => (
        <div key={toast.id} className={`toast toast-${toast.tone}`} data-testid="toast">
          <span>{toastText(toast, t, (siteId) => cachedSite(client, siteId))}</span>
          <button type="button" className="toast-close" aria-label={t("common.dismiss")} onClick={() => store.dismiss(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
