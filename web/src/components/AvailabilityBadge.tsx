import type { Availability } from "../api/types";
import { AVAILABILITY_TONES } from "../format/status";

export function AvailabilityBadge({ availability }: { availability: Availability }) {
  return (
    <span className={`badge badge-${AVAILABILITY_TONES[availability]}`} data-testid="availability-badge" data-availability={availability}>
      {availability}
    </span>
  );
}
