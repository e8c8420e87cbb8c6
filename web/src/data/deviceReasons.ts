/**
 * Why each device last changed availability, as the live stream said ("status topic said
 * offline", "silent for more than 180 s", "site connection is down"). The device lists do
 * not carry it, so it is kept here from device events, for the badges' explanations.
 */

import type { LiveEvent } from "../api/events";
import type { Availability, DeviceKind } from "../api/types";

export interface DeviceReason {
  availability: Availability;
  reason: string;
  at: string;
}

export class DeviceReasons {
  private readonly reasons = new Map<string, DeviceReason>();
  private readonly listeners = new Set<() => void>();
  private version = 0;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getVersion = (): number => this.version;

  record(event: LiveEvent): void {
    if (event.type !== "device.online" && event.type !== "device.offline" && event.type !== "device.discovered") return;
    if (event.id === null || event.availability === null || !event.reason) return;
    this.reasons.set(`${event.kind}:${event.id}`, { availability: event.availability, reason: event.reason, at: event.at });
    this.version += 1;
    for (const listener of this.listeners) listener();
  }

  /** The reason of the device's current availability, if the stream told us. */
  get(kind: DeviceKind, id: number, availability: Availability): string | null {
    const known = this.reasons.get(`${kind}:${id}`);
    return known !== undefined && known.availability === availability ? known.reason : null;
  }
}

export const deviceReasons = new DeviceReasons();
