import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { ErrorText } from "../components/ErrorText";
import { useLogin } from "./useAuth";

export function LoginPage() {
  const [token, setToken] = useState("");
  const login = useLogin();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) login.mutate(token.trim(), { onSuccess: () => setToken("") });
  };
  const error =
    login.error instanceof ApiError && login.error.status === 401 ? new Error("That token is not valid.") : login.error;
  return (
    <div className="login">
      <form className="card login-card" onSubmit={submit}>
        <h1 className="brand">sitelink</h1>
        <p className="muted">Sign in with an API token. It is exchanged for a session cookie and not kept by this page.</p>
        <label>
          Token
          <input
            type="password"
            name="token"
            autoComplete="current-password"
            autoFocus
            value={token}
            onChange={(event) => setToken(event.target.value)}
            data-testid="login-token"
          />
        </label>
        <ErrorText error={error} />
        <button type="submit" className="button primary" disabled={login.isPending || !token.trim()} data-testid="login-submit">
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
