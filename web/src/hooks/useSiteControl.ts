import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo } from "react";
import { siteControlOptions } from "../data/siteControl";
import { useToastStore } from "../live/ToastContext";

/** Start, stop or reconnect a site, with the optimistic badge of data/optimisticControl.ts. */
export function useSiteControl() {
  const client = useQueryClient();
  const toasts = useToastStore();
  const options = useMemo(() => siteControlOptions(client, (toast) => toasts.push(toast)), [client, toasts]);
  return useMutation(options);
}
