import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import { ApiError } from "./api/client";
import { LoginPage } from "./auth/LoginPage";
import { useIsAdmin, useMe, useSignOutOnUnauthorized } from "./auth/useAuth";
import { Layout } from "./components/Layout";
import { Loading } from "./components/ErrorText";
import { ToastStore } from "./data/toastStore";
import { LiveProvider } from "./live/LiveContext";
import { ToastProvider } from "./live/ToastContext";
import { ActorsPage } from "./pages/ActorsPage";
import { AlertsPage } from "./pages/AlertsPage";
import { AuditPage } from "./pages/AuditPage";
import { ClusterPage } from "./pages/ClusterPage";
import { DataloggerPage } from "./pages/DataloggerPage";
import { FleetPage } from "./pages/FleetPage";
import { SitePage } from "./pages/SitePage";
import { TokensPage } from "./pages/TokensPage";

/** Client errors will not get better by asking again; the rest may. */
function shouldRetry(failureCount: number, error: Error): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { staleTime: 10_000, retry: shouldRetry, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}

function AdminOnly({ children }: { children: ReactNode }) {
  return useIsAdmin() ? children : <Navigate to="/" replace />;
}

function Session() {
  useSignOutOnUnauthorized();
  const me = useMe();
  if (me.data === undefined) {
    return (
      <div className="login">
        <Loading error={me.error} onRetry={() => void me.refetch()} />
      </div>
    );
  }
  if (me.data === null) return <LoginPage />;
  return (
    <LiveProvider>
      <Layout>
        <Routes>
          <Route path="/" element={<FleetPage />} />
          <Route path="/sites/:siteId" element={<SitePage />} />
          <Route path="/dataloggers/:dataloggerId" element={<DataloggerPage />} />
          <Route path="/alerts" element={<AlertsPage />} />
          <Route path="/cluster" element={<ClusterPage />} />
          <Route path="/actors" element={<AdminOnly><ActorsPage /></AdminOnly>} />
          <Route path="/audit" element={<AdminOnly><AuditPage /></AdminOnly>} />
          <Route path="/tokens" element={<AdminOnly><TokensPage /></AdminOnly>} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </Layout>
    </LiveProvider>
  );
}

export function App() {
  const [client] = useState(makeQueryClient);
  const [toasts] = useState(() => new ToastStore());
  return (
    <QueryClientProvider client={client}>
      <ToastProvider store={toasts}>
        <BrowserRouter>
          <Session />
        </BrowserRouter>
      </ToastProvider>
    </QueryClientProvider>
  );
}
