import { useSyncExternalStore } from "react";
import { useTranslation } from "react-i18next";
import type { Availability, DeviceKind } from "../api/types";
import { deviceReasons } from "../data/deviceReasons";
import { AVAILABILITY_TONES } from "../format/status";

/**
 * Why a device has its availability: what the live stream said, or else what the server's
 * rules allow (a site link down makes every device unreachable; offline is either the status
 * topic saying so or silence past the device's timeout).
 */
export function useAvailabilityReason(kind: DeviceKind, id: number, availability: Availability): string {
  const { t } = useTranslation();
  useSyncExternalStore(deviceReasons.subscribe, deviceReasons.getVersion);
  return deviceReasons.get(kind, id, availability) ?? t(`availabilityWhy.${availability}`);
}

export function AvailabilityBadge({ availability, reason }: { availability: Availability; reason?: string }) {
  const { t } = useTranslation();
  return (
    <span
      className={`badge badge-${AVAILABILITY_TONES[availability]}`}
      data-testid="availability-badge"
      data-availability={availability}
      title={reason}
    >
      {t(`availability.${availability}`)}
    </span>
  );
}

/** The badge of one device with its reason as a tooltip (and, when `showReason`, in words). */
export function DeviceAvailability({
  kind,
  id,
  availability,
  showReason = false,
}: {
  kind: DeviceKind;
  id: number;
  availability: Availability;
  showReason?: boolean;
}) {
  const reason = useAvailabilityReason(kind, id, availability);
  return (
    <>
      <AvailabilityBadge availability={availability} reason={reason} />
      {showReason && availability !== "online" && (
        <span className="muted small availability-reason" data-testid="availability-reason">
          {" "}
          {reason}
        </span>
      )}
    </>
  );
}
