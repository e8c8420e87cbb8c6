/**
 * The fleet page's bulk tools (admins only): the Export menu — plain download links, the
 * session cookie goes with them — and the Import panel: a picked file is first sent as a dry
 * run, its per-row report is shown, and only a clean dry run offers "Apply", which sends the
 * same file for real and then refreshes the fleet.
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import { ErrorText } from "../../components/ErrorText";
import { canApply, exportHref, formatOfFile, rowsToShow, type ImportBody, type ImportReport } from "../../data/bulkImport";

export function ExportMenu() {
  const { t } = useTranslation();
  const menu = useRef<HTMLDetailsElement>(null);
  // A native <details>: it opens without script; a chosen link folds it again.
  const close = () => {
    if (menu.current) menu.current.open = false;
  };
  return (
    <details className="export-menu" ref={menu} data-testid="export-menu">
      <summary className="button">{t("bulk.export")}</summary>
      <div className="export-list">
        <a href={exportHref("yaml")} download="sites.yaml" onClick={close} data-testid="export-yaml">
          {t("bulk.exportYaml")}
        </a>
        <a href={exportHref("csv")} download="sites.csv" onClick={close} data-testid="export-csv">
          {t("bulk.exportCsv")}
        </a>
      </div>
    </details>
  );
}

function Report({ report }: { report: ImportReport }) {
  const { t } = useTranslation();
  return (
    <div className="import-report" data-testid="import-report">
      <p>
        <strong>
          {t("bulk.summary", {
            created: report.created,
            updated: report.updated,
            unchanged: report.unchanged,
            errors: report.errors,
          })}
        </strong>
      </p>
      <p className="muted">
        {report.applied
          ? t("bulk.appliedNote")
          : report.errors > 0
            ? t("bulk.badRows")
            : report.created + report.updated === 0
              ? t("bulk.nothingToDo")
              : t("bulk.dryRunNote")}
      </p>
      <ul className="import-rows">
        {rowsToShow(report).map((row) => (
          <li key={row.row} className={`import-row ${row.action}`} data-testid="import-row" data-action={row.action}>
            <span className="muted">
              {t("bulk.row")} {row.row}
            </span>{" "}
            <span className="mono">{row.code || "—"}</span> <strong>{t(`bulk.actions.${row.action}`)}</strong>
            {row.errors.map((problem) => (
              <span key={`${problem.field}:${problem.message}`} className="error-text block">
                <span className="mono">{problem.field}</span>: {problem.message}
              </span>
            ))}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ImportPanel() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [body, setBody] = useState<ImportBody | null>(null);
  const [fileError, setFileError] = useState(false);
  const dryRun = useMutation({ mutationFn: (file: ImportBody) => api.importSites(file, true) });
  const apply = useMutation({
    mutationFn: (file: ImportBody) => api.importSites(file, false),
    onSettled: () => client.invalidateQueries(),
  });

  const pick = async (file: File | undefined) => {
    dryRun.reset();
    apply.reset();
    setBody(null);
    if (!file) return;
    const format = formatOfFile(file.name, file.type);
    setFileError(format === null);
    if (format === null) return;
    const picked = { format, content: await file.text() };
    setBody(picked);
    dryRun.mutate(picked);
  };

  const report = apply.data ?? dryRun.data;
  const busy = dryRun.isPending || apply.isPending;
  return (
    <div className="card import-panel" data-testid="import-panel">
      <h2>{t("bulk.importTitle")}</h2>
      <label>
        <span>{t("bulk.pickFile")}</span>
        <input
          type="file"
          accept=".yaml,.yml,.csv,text/csv,application/yaml"
          disabled={busy}
          onChange={(event) => void pick(event.target.files?.[0])}
          data-testid="import-file"
        />
      </label>
      {fileError && <p className="error-text">{t("bulk.unknownFormat")}</p>}
      {busy && <p className="muted">{dryRun.isPending ? t("bulk.checking") : t("bulk.applying")}</p>}
      <ErrorText error={apply.error ?? dryRun.error} />
      {report && <Report report={report} />}
      {body && dryRun.data && !apply.data && canApply(dryRun.data) && (
        <button
          type="button"
          className="button primary"
          disabled={busy}
          onClick={() => apply.mutate(body)}
          data-testid="import-apply"
        >
          {t("bulk.apply")}
        </button>
      )}
    </div>
  );
}
