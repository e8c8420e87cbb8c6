/**
 * API tokens (admins): make one with a role — its secret is shown once, with a copy button —
 * list them with when they were last used, revoke one. The server keeps only hashes.
 */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/endpoints";
import type { NewToken, Role } from "../api/types";
import { ErrorText, Loading } from "../components/ErrorText";
import { queryKeys } from "../data/queryKeys";
import { useTimeFormat } from "../i18n";

function CreatedToken({ created, onDone }: { created: NewToken; onDone: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  return (
    <div className="banner banner-warning created-token" data-testid="new-token">
      <p>
        <strong>{t("tokens.createdTitle", { name: created.name })}</strong> {t("tokens.shownOnce")}
      </p>
      <code className="secret" data-testid="new-token-value">
        {created.token}
      </code>
      <div className="toolbar tight">
        <button
          type="button"
          className="button"
          onClick={() => {
            void navigator.clipboard?.writeText(created.token).then(() => setCopied(true));
          }}
          data-testid="copy-token"
        >
          {copied ? t("tokens.copied") : t("tokens.copy")}
        </button>
        <button type="button" className="button ghost" onClick={onDone}>
          {t("common.close")}
        </button>
      </div>
    </div>
  );
}

export function TokensPage() {
  const { t } = useTranslation();
  const format = useTimeFormat();
  const client = useQueryClient();
  const tokens = useQuery({ queryKey: queryKeys.tokens(), queryFn: ({ signal }) => api.tokens(signal) });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [created, setCreated] = useState<NewToken | null>(null);
  const create = useMutation({
    mutationFn: () => api.createToken(name.trim(), role),
    onSuccess: (answer) => {
      setCreated(answer);
      setName("");
      void client.invalidateQueries({ queryKey: queryKeys.tokens() });
    },
  });
  const revoke = useMutation({
    mutationFn: (tokenName: string) => api.revokeToken(tokenName),
    onSettled: () => client.invalidateQueries({ queryKey: queryKeys.tokens() }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim()) create.mutate();
  };
  return (
    <section>
      <div className="page-head">
        <h1>{t("tokens.title")}</h1>
      </div>
      {created && <CreatedToken created={created} onDone={() => setCreated(null)} />}
      <div className="card">
        <h2>{t("tokens.new")}</h2>
        <form className="inline-form" onSubmit={submit} data-testid="token-form">
          <label>
            {t("tokens.name")}
            <input value={name} onChange={(event) => setName(event.target.value)} required maxLength={64} data-testid="token-name" />
          </label>
          <label>
            {t("tokens.role")}
            <select value={role} onChange={(event) => setRole(event.target.value as Role)} data-testid="token-role">
              <option value="viewer">{t("role.viewer")}</option>
              <option value="admin">{t("role.admin")}</option>
            </select>
          </label>
          <button type="submit" className="button primary" disabled={create.isPending || !name.trim()} data-testid="token-create">
            {t("tokens.create")}
          </button>
          <ErrorText error={create.error} />
        </form>
      </div>
      <div className="card">
        <h2>{t("tokens.list")}</h2>
        <ErrorText error={revoke.error} />
        {tokens.data === undefined ? (
          <Loading error={tokens.error} onRetry={() => void tokens.refetch()} />
        ) : tokens.data.tokens.length === 0 ? (
          <p className="muted">{t("tokens.none")}</p>
        ) : (
          <ul className="plain token-list" data-testid="token-list">
            {tokens.data.tokens.map((token) => (
              <li key={token.name} className="token-row" data-testid="token-row" data-name={token.name}>
                <span className="token-name mono">{token.name}</span>
                <span className={`role role-${token.role}`}>{t(`role.${token.role}`)}</span>
                <span className="muted small">
                  {t("tokens.createdAt", { at: format.dateTime(token.created_at) })} ·{" "}
                  {token.last_used_at ? t("tokens.lastUsed", { at: format.dateTime(token.last_used_at) }) : t("tokens.neverUsed")}
                </span>
                <button
                  type="button"
                  className="button ghost danger"
                  disabled={revoke.isPending}
                  onClick={() => {
                    if (window.confirm(t("tokens.confirmRevoke", { name: token.name }))) revoke.mutate(token.name);
                  }}
                  data-testid="token-revoke"
                >
                  {t("tokens.revoke")}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}
