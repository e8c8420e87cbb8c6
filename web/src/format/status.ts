/** Colours of connection statuses and availabilities (their words are in the i18n messages). */

import type { Availability, ConnectionStatus } from "../api/types";

/** The badge colour; the transient statuses also pulse. */
export const STATUS_TONES: Record<ConnectionStatus, { tone: "green" | "blue" | "orange" | "red"; pulse: boolean }> = {
  connected: { tone: "green", pulse: false },
  connecting: { tone: "blue", pulse: true },
  disconnected: { tone: "orange", pulse: false },
  disabled: { tone: "orange", pulse: true },
  error: { tone: "red", pulse: false },
};

/** A start or stop is still settling: the admin menu shows a spinner. */
export function isTransient(status: ConnectionStatus): boolean {
  return status === "connecting" || status === "disabled";
}

export const AVAILABILITY_TONES: Record<Availability, "green" | "red" | "grey" | "amber"> = {
  online: "green",
  offline: "red",
  unreachable: "amber",
  unknown: "grey",
};
