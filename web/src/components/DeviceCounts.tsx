import { useTranslation } from "react-i18next";
import type { Availability } from "../api/types";
import type { AvailabilityCounts } from "../data/fleet";
import { AVAILABILITY_TONES } from "../format/status";

const SHOWN: readonly Availability[] = ["online", "offline", "unreachable", "unknown"];

/** "12 online · 1 offline · 3 unreachable", each with its availability colour; zeros left out. */
export function DeviceCounts({ counts }: { counts: AvailabilityCounts }) {
  const { t } = useTranslation();
  const present = SHOWN.filter((availability) => counts[availability] > 0);
  if (present.length === 0) return <span className="muted">{t("devices.none")}</span>;
  return (
    <span className="device-counts" data-testid="device-counts">
      {present.map((availability) => (
        <span key={availability} className={`dot-count ${AVAILABILITY_TONES[availability]}`} data-availability={availability}>
          {counts[availability]} {t(`availability.${availability}`)}
        </span>
      ))}
    </span>
  );
}
