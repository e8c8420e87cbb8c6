import { useTranslation } from "react-i18next";
import type { ConnectionStatus } from "../api/types";
import { STATUS_TONES } from "../format/status";

/** The site's MQTT badge, with the words and colours of the replaced UI. */
export function StatusBadge({ status }: { status: ConnectionStatus }) {
  const { t } = useTranslation();
  const { tone, pulse } = STATUS_TONES[status];
  return (
    <span className={`badge badge-${tone}${pulse ? " pulse" : ""}`} data-testid="site-status-badge" data-status={status}>
      {t(`status.${status}`)}
    </span>
  );
}
