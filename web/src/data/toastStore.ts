/**
 * Toasts, as a tiny external store for useSyncExternalStore. At most `maxVisible` are shown;
 * when a burst brings more (a broker outage can change a thousand sites at once), the oldest
 * make room and are counted in `dropped`, so the screen never fills with toasts.
 */

import type { ToastSpec } from "./eventPlan";

export interface Toast extends ToastSpec {
  id: number;
}

export interface ToastState {
  toasts: readonly Toast[];
  dropped: number;
}

type Timer = (callback: () => void, ms: number) => unknown;

export class ToastStore {
  private state: ToastState = { toasts: [], dropped: 0 };
  private readonly listeners = new Set<() => void>();
  private nextId = 1;

  constructor(
    private readonly maxVisible = 4,
    private readonly lifetimeMs = 6000,
    private readonly setTimer: Timer = (callback, ms) => globalThis.setTimeout(callback, ms),
  ) {}

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): ToastState => this.state;

  push(spec: ToastSpec): number {
    const toast: Toast = { ...spec, id: this.nextId++ };
    const toasts = [...this.state.toasts, toast];
    const overflow = Math.max(0, toasts.length - this.maxVisible);
    this.set({ toasts: toasts.slice(overflow), dropped: this.state.dropped + overflow });
    const lifetime = spec.tone === "error" ? this.lifetimeMs * 2 : this.lifetimeMs;
    this.setTimer(() => this.dismiss(toast.id), lifetime);
    return toast.id;
  }

  dismiss(id: number): void {
    if (!this.state.toasts.some((toast) => toast.id === id)) return;
    const toasts = this.state.toasts.filter((toast) => toast.id !== id);
    this.set({ toasts, dropped: toasts.length === 0 ? 0 : this.state.dropped });
  }

  clearDropped(): void {
    if (this.state.dropped !== 0) this.set({ ...this.state, dropped: 0 });
  }

  private set(state: ToastState): void {
    this.state = state;
    for (const listener of this.listeners) listener();
  }
}
