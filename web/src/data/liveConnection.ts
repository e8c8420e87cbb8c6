/**
 * The dashboard's one EventSource on /api/v1/events.
 *
 * While the stream drops and comes back, the browser reconnects by itself and sends
 * Last-Event-ID, so the server replays what was missed (or sends `reset`). When the browser
 * gives up instead (an HTTP error such as 401 or 503 closes an EventSource for good), we open
 * a new one after a backoff; a new EventSource has no Last-Event-ID, so events may have been
 * missed and `onGap` tells the owner to refetch everything.
 *
 * A server at its stream cap answers 503 (with Retry-After, which an EventSource cannot read):
 * the browser closes the stream and we back off like for any refused open, doubling up to
 * `retryMaxMs`, each delay spread by ±50 % so that dashboards refused together do not come
 * back together.
 *
 * Runs on the browser's main thread; the EventSource constructor is injected for tests.
 */

import { EVENT_TYPES, parseEvent, type LiveEvent } from "../api/events";

export type LiveState = "connecting" | "live" | "reconnecting";

/** The part of the DOM EventSource this module uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export interface LiveConnectionOptions {
  url: string;
  create: EventSourceFactory;
  onEvent: (event: LiveEvent) => void;
  onState: (state: LiveState) => void;
  /** Events may have been lost (we had to open a fresh stream): refetch everything. */
  onGap: () => void;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** A number in [0, 1), for the jitter of the retry delay (Math.random by default). */
  random?: () => number;
}

const CLOSED = 2;

export class LiveConnection {
  private source: EventSourceLike | null = null;
  private retryTimer: unknown = null;
  private failures = 0;
  private hadStream = false;
  private stopped = false;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly options: LiveConnectionOptions) {
    this.setTimer = options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms));
    this.clearTimer =
      options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>));
  }

  start(): void {
    this.stopped = false;
    this.options.onState("connecting");
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) this.clearTimer(this.retryTimer);
    this.retryTimer = null;
    this.source?.close();
    this.source = null;
  }

  private open(): void {
    const source = this.options.create(this.options.url);
    this.source = source;
    const reopened = this.hadStream;
    source.onopen = () => {
      this.failures = 0;
      this.options.onState("live");
      if (reopened) this.options.onGap();
      this.hadStream = true;
    };
    source.onerror = () => {
      if (this.stopped || this.source !== source) return;
      this.options.onState("reconnecting");
      if (source.readyState === CLOSED) this.reopenLater(source);
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        const event = parseEvent(type, message.data);
        if (event !== null) this.options.onEvent(event);
      });
    }
  }

  private reopenLater(closed: EventSourceLike): void {
    closed.close();
    this.source = null;
    // Whatever happened, the next stream must be treated as having missed events.
    this.hadStream = true;
    const base = this.options.retryBaseMs ?? 1000;
    const max = this.options.retryMaxMs ?? 30000;
    const random = this.options.random ?? Math.random;
    const delay = Math.round(Math.min(base * 2 ** this.failures, max) * (0.5 + random()));
    this.failures += 1;
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }
}
