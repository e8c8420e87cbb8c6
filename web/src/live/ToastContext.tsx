import { createContext, useContext, useSyncExternalStore, type ReactNode } from "react";
import type { ToastState, ToastStore } from "../data/toastStore";

const ToastContext = createContext<ToastStore | null>(null);

export function ToastProvider({ store, children }: { store: ToastStore; children: ReactNode }) {
  return <ToastContext.Provider value={store}>{children}</ToastContext.Provider>;
}

export function useToastStore(): ToastStore {
  const store = useContext(ToastContext);
  if (store === null) throw new Error("useToastStore outside ToastProvider");
  return store;
}

export function useToastState(): ToastState {
  const store = useToastStore();
  return useSyncExternalStore(store.subscribe, store.getSnapshot);
}
