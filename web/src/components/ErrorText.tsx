import { ApiError } from "../api/client";

/** A failed request in words, next to whatever caused it. */
export function ErrorText({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError ? error.detail || `HTTP ${error.status}` : error instanceof Error ? error.message : String(error);
  return (
    <p className="error-text" role="alert">
      {text}
    </p>
  );
}

/** A query that has not answered yet, or failed. */
export function Loading({ error, what }: { error: unknown; what: string }) {
  if (error) return <ErrorText error={error} />;
  return <p className="muted">Loading {what}…</p>;
}
