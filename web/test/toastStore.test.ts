import { describe, expect, it } from "vitest";
import { ToastStore } from "../src/data/toastStore";

describe("ToastStore", () => {
  it("shows at most maxVisible toasts, dropping the oldest and counting them", () => {
    const timers: (() => void)[] = [];
    const store = new ToastStore(2, 1000, (callback) => timers.push(callback));
    store.push({ tone: "info", key: "siteSaved", params: { code: "a" } });
    store.push({ tone: "info", key: "siteSaved", params: { code: "b" } });
    store.push({ tone: "error", key: "siteSaved", params: { code: "c" } });
    const state = store.getSnapshot();
    expect(state.toasts.map((t) => t.params?.code)).toEqual(["b", "c"]);
    expect(state.dropped).toBe(1);
  });

  it("dismisses a toast when its time is up and notifies subscribers", () => {
    const timers: (() => void)[] = [];
    const store = new ToastStore(4, 1000, (callback) => timers.push(callback));
    let notified = 0;
    store.subscribe(() => {
      notified += 1;
    });
    store.push({ tone: "success", key: "status", params: { status: "connected" }, siteId: 1 });
    timers[0]?.();
    expect(store.getSnapshot().toasts).toEqual([]);
    expect(notified).toBe(2);
  });
});
