import { describe, expect, it } from "vitest";
import type { LiveEvent } from "../src/api/events";
import { LiveConnection, type EventSourceLike, type LiveState } from "../src/data/liveConnection";

/** A hand-written EventSource whose network the test drives. */
class FakeEventSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  /** The browser lost the stream and will retry by itself (with Last-Event-ID). */
  drop(): void {
    this.readyState = 0;
    this.onerror?.(new Event("error"));
  }
  /** The browser gave up, as it does on an HTTP error answer. */
  fail(): void {
    this.readyState = 2;
    this.onerror?.(new Event("error"));
  }
  emit(type: string, data: unknown): void {
    const message = { data: typeof data === "string" ? data : JSON.stringify(data) } as MessageEvent<string>;
    for (const listener of this.listeners.get(type) ?? []) listener(message);
  }
}

function setup(random: () => number = () => 0.5) {
  const sources: FakeEventSource[] = [];
  const events: LiveEvent[] = [];
  const states: LiveState[] = [];
  const timers: { callback: () => void; ms: number }[] = [];
  let gaps = 0;
  const connection = new LiveConnection({
    url: "/api/v1/events",
    create: (url) => {
      const source = new FakeEventSource(url);
      sources.push(source);
      return source;
    },
    onEvent: (event) => events.push(event),
    onState: (state) => states.push(state),
    onGap: () => {
      gaps += 1;
    },
    setTimeout: (callback, ms) => timers.push({ callback, ms }),
    random,
    clearTimeout: () => {},
  });
  return { connection, sources, events, states, timers, gaps: () => gaps };
}

describe("LiveConnection", () => {
  it("opens one stream and reports live once it is open", () => {
    const { connection, sources, states } = setup();
    connection.start();
    expect(sources).toHaveLength(1);
    expect(sources[0]?.url).toBe("/api/v1/events");
    expect(states).toEqual(["connecting"]);
    sources[0]?.open();
    expect(states).toEqual(["connecting", "live"]);
  });

  it("delivers parsed events and skips the ones it does not understand", () => {
    const { connection, sources, events } = setup();
    connection.start();
    sources[0]?.open();
    sources[0]?.emit("site.changed", { site_id: 3, change: "created" });
    sources[0]?.emit("site.status", "garbage");
    sources[0]?.emit("reset", "");
    expect(events).toEqual([{ type: "site.changed", site_id: 3, change: "created" }, { type: "reset" }]);
  });

  it("lets the browser reconnect by itself, with no refetch, when the stream drops", () => {
    const { connection, sources, states, gaps } = setup();
    connection.start();
    sources[0]?.open();
    sources[0]?.drop();
    expect(states.at(-1)).toBe("reconnecting");
    sources[0]?.open();
    expect(states.at(-1)).toBe("live");
    expect(sources).toHaveLength(1);
    expect(gaps()).toBe(0);
  });

  it("opens a new stream after a backoff when the browser gives up, and asks for a refetch", () => {
    const { connection, sources, timers, gaps } = setup();
    connection.start();
    sources[0]?.open();
    sources[0]?.fail();
    expect(sources[0]?.closed).toBe(true);
    expect(timers.map((t) => t.ms)).toEqual([1000]);
    timers[0]?.callback();
    expect(sources).toHaveLength(2);
    sources[1]?.fail();
    expect(timers.map((t) => t.ms)).toEqual([1000, 2000]);
    timers[1]?.callback();
    sources[2]?.open();
    expect(gaps()).toBe(1);
  });

  it("backs off, spread by jitter, while the server refuses streams (503 at its cap)", () => {
    const { connection, sources, timers } = setup(() => 0);
    connection.start();
    for (let refused = 0; refused < 7; refused += 1) {
      sources[refused]?.fail(); // an HTTP error answer: the browser gives up at once
      timers[refused]?.callback();
    }
    expect(timers.map((t) => t.ms)).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    const late = setup(() => 0.999);
    late.connection.start();
    late.sources[0]?.fail();
    expect(late.timers[0]?.ms).toBe(1499);
  });

  it("stops for good: no more streams and no more events", () => {
    const { connection, sources, timers, events } = setup();
    connection.start();
    sources[0]?.open();
    connection.stop();
    expect(sources[0]?.closed).toBe(true);
    sources[0]?.fail();
    expect(timers).toHaveLength(0);
    expect(events).toHaveLength(0);
  });
});
