/**
 * The start/stop/reconnect mutation, as plain options so that it runs the same inside
 * useMutation and in a test's MutationObserver.
 */

import type { MutationOptions, QueryClient } from "@tanstack/react-query";
import { api, type ControlAction } from "../api/endpoints";
import type { ControlResult } from "../api/types";
import type { ToastSpec } from "./eventPlan";
import { applyOptimistic, rollbackOptimistic, type OptimisticSnapshot } from "./optimisticControl";
import { pendingControls } from "./pendingControls";
import { queryKeys } from "./queryKeys";

export interface ControlVariables {
  siteId: number;
  action: ControlAction;
}

interface ControlContext {
  snapshot: OptimisticSnapshot | null;
}

type Send = (siteId: number, action: ControlAction) => Promise<ControlResult>;

/**
 * If no `site.status` event has replaced the optimistic badge by then (the site was already in
 * the asked state, say, so nothing changed), ask the server what it is.
 */
const SETTLE_CHECK_MS = 10_000;

export function siteControlOptions(
  client: QueryClient,
  notify: (toast: ToastSpec) => void,
  send: Send = api.control,
): MutationOptions<ControlResult, Error, ControlVariables, ControlContext> {
  return {
    mutationFn: ({ siteId, action }) => send(siteId, action),
    onMutate: async ({ siteId, action }) => ({ snapshot: await applyOptimistic(client, siteId, action) }),
    onSuccess: (_result, { siteId, action }) => {
      notify({ tone: "info", key: "control", params: { action }, siteId });
      setTimeout(() => {
        pendingControls(client).clear(siteId);
        void client.invalidateQueries({ queryKey: queryKeys.siteStatus(siteId) });
        void client.invalidateQueries({ queryKey: queryKeys.siteList() });
      }, SETTLE_CHECK_MS);
    },
    onError: (error, { siteId, action }, context) => {
      if (context?.snapshot) rollbackOptimistic(client, context.snapshot);
      // Whatever the cache says now may be wrong; ask the server.
      void client.invalidateQueries({ queryKey: queryKeys.siteStatus(siteId) });
      void client.invalidateQueries({ queryKey: queryKeys.siteList() });
      notify({ tone: "error", key: "controlFailed", params: { verb: action, error: error.message }, siteId });
    },
  };
}
