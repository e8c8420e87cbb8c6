import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";
import { ErrorText } from "../components/ErrorText";
import { Preferences } from "../components/Preferences";
import { useLogin } from "./useAuth";

export function LoginPage() {
  const { t } = useTranslation();
  const [token, setToken] = useState("");
  const login = useLogin();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) login.mutate(token.trim(), { onSuccess: () => setToken("") });
  };
  const error = login.error instanceof ApiError && login.error.status === 401 ? new Error(t("login.invalid")) : login.error;
  return (
    <main className="login">
      <form className="card login-card" onSubmit={submit}>
        <h1 className="brand">sitelink</h1>
        <p className="muted">{t("login.intro")}</p>
        <label>
          {t("login.token")}
          <input
            type="password"
            name="token"
            autoComplete="current-password"
            value={token}
            onChange={(event) => setToken(event.target.value)}
            data-testid="login-token"
          />
        </label>
        <ErrorText error={error} />
        <button type="submit" className="button primary" disabled={login.isPending || !token.trim()} data-testid="login-submit">
          {login.isPending ? t("login.signingIn") : t("login.signIn")}
        </button>
        <Preferences />
      </form>
    </main>
  );
}
