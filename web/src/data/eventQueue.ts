/**
 * Gathers live events for a short while and hands them on as one batch, so that a burst (a
 * broker outage: a status per site, an event per device) costs one render, not thousands.
 * Runs on the browser's main thread; the timer is injected for tests.
 */

import type { LiveEvent } from "../api/events";

export class EventQueue {
  private events: LiveEvent[] = [];
  private timer: unknown = null;

  constructor(
    private readonly deliver: (events: LiveEvent[]) => void,
    private readonly delayMs = 50,
    private readonly setTimer: (callback: () => void, ms: number) => unknown = (callback, ms) =>
      globalThis.setTimeout(callback, ms),
    private readonly clearTimer: (handle: unknown) => void = (handle) =>
      globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  ) {}

  push(event: LiveEvent): void {
    this.events.push(event);
    if (this.timer === null) this.timer = this.setTimer(() => this.flush(), this.delayMs);
  }

  flush(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const batch = this.events;
    this.events = [];
    if (batch.length > 0) this.deliver(batch);
  }

  dispose(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.events = [];
  }
}
