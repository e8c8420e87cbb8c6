import { useTranslation } from "react-i18next";
import { useLiveState } from "../live/LiveContext";

export function LiveIndicator() {
  const { t } = useTranslation();
  const state = useLiveState();
  return (
    <span className={`live live-${state}`} data-testid="live-indicator" data-state={state} title={t("live.title")}>
      <span className="live-dot" />
      {t(`live.${state}`)}
    </span>
  );
}
