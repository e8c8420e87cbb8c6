/**
 * The app-wide live stream: one EventSource for the whole dashboard, opened while someone is
 * logged in. Events are queued for 50 ms and applied as a batch (cache edits, batched
 * invalidation, toasts).
 */

import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { applyEvents } from "../data/applyEvent";
import { clusterChanges } from "../data/clusterChanges";
import { deviceReasons } from "../data/deviceReasons";
import { EventQueue } from "../data/eventQueue";
import { InvalidationBatcher } from "../data/invalidationBatcher";
import { LiveConnection, type LiveState } from "../data/liveConnection";
import { useToastStore } from "./ToastContext";

const EVENTS_URL = "/api/v1/events";

const LiveStateContext = createContext<LiveState>("connecting");

export function LiveProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const toasts = useToastStore();
  const [state, setState] = useState<LiveState>("connecting");

  useEffect(() => {
    const batcher = new InvalidationBatcher(client);
    const queue = new EventQueue((events) => applyEvents(client, batcher, events, (toast) => toasts.push(toast)));
    const connection = new LiveConnection({
      url: EVENTS_URL,
      // Same-origin, so the session cookie goes along; no token in the URL.
      create: (url) => new EventSource(url),
      onEvent: (event) => {
        deviceReasons.record(event);
        clusterChanges.record(event);
        queue.push(event);
      },
      onState: setState,
      onGap: () => batcher.addAll(),
    });
    connection.start();
    return () => {
      connection.stop();
      queue.dispose();
      batcher.dispose();
    };
  }, [client, toasts]);

  return <LiveStateContext.Provider value={state}>{children}</LiveStateContext.Provider>;
}

export function useLiveState(): LiveState {
  return useContext(LiveStateContext);
}
