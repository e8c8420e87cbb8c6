/**
 * Who is logged in. The session lives in an HttpOnly cookie that the dashboard never sees; it
 * only asks `auth/me`. A 401 from any request means the session is gone: every cached answer
 * is dropped and the login page shows.
 */

import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { isUnauthorized, onUnauthorized } from "../api/client";
import { api } from "../api/endpoints";
import type { Me } from "../api/types";
import { queryKeys } from "../data/queryKeys";

async function fetchMe(signal: AbortSignal): Promise<Me | null> {
  try {
    return await api.me(signal);
  } catch (error) {
    if (isUnauthorized(error)) return null;
    throw error;
  }
}

/** Forgets everything the previous session saw and shows the login page. */
export function signOutLocally(client: QueryClient): void {
  client.cancelQueries().catch(() => undefined);
  client.removeQueries({ predicate: (query) => query.queryKey[0] !== queryKeys.me()[0] });
  client.setQueryData<Me | null>(queryKeys.me(), null);
}

export function useMe() {
  return useQuery({ queryKey: queryKeys.me(), queryFn: ({ signal }) => fetchMe(signal), staleTime: 60_000 });
}

export function useIsAdmin(): boolean {
  return useMe().data?.role === "admin";
}

/** Mount once: sends the app back to login on any 401. */
export function useSignOutOnUnauthorized(): void {
  const client = useQueryClient();
  useEffect(() => onUnauthorized(() => signOutLocally(client)), [client]);
}

export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (token: string) => api.login(token),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: queryKeys.me() });
    },
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api.logout(),
    onSettled: () => signOutLocally(client),
  });
}
