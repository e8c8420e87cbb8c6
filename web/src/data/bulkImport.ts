/**
 * The fleet page's import, as pure logic: which format a picked file is, what the server's
 * per-row report says (a 200, or a 400 that still carries the report), and when "Apply" may
 * be offered — only after a dry run of the very same file found no bad row and something to do.
 */

export type BulkFormat = "yaml" | "csv";
export type ImportAction = "create" | "update" | "unchanged" | "error";

export interface ImportProblem {
  field: string;
  message: string;
}

export interface ImportRow {
  row: number;
  code: string;
  action: ImportAction;
  errors: ImportProblem[];
}

/** `POST /api/v1/mqtt/sites/import`'s answer (200, or 400 when a row is bad). */
export interface ImportReport {
  dry_run: boolean;
  applied: boolean;
  created: number;
  updated: number;
  unchanged: number;
  errors: number;
  rows: ImportRow[];
}

/** The JSON body the dashboard sends (a cookie session may only send JSON). */
export interface ImportBody {
  format: BulkFormat;
  content: string;
}

export const EXPORT_PATH = "/api/v1/mqtt/sites/export";

export function exportHref(format: BulkFormat): string {
  return `${EXPORT_PATH}?format=${format}`;
}

/** `.csv` (or a CSV media type) is CSV; `.yaml`/`.yml` (or a YAML type) is YAML; else null. */
export function formatOfFile(name: string, type = ""): BulkFormat | null {
  const lower = name.toLowerCase();
  if (lower.endsWith(".csv") || type === "text/csv") return "csv";
  if (lower.endsWith(".yaml") || lower.endsWith(".yml") || type.includes("yaml")) return "yaml";
  return null;
}

const ACTIONS: readonly ImportAction[] = ["create", "update", "unchanged", "error"];

function isRow(value: unknown): value is ImportRow {
  if (!value || typeof value !== "object") return false;
  const row = value as Record<string, unknown>;
  return (
    typeof row.row === "number" &&
    typeof row.code === "string" &&
    ACTIONS.includes(row.action as ImportAction) &&
    Array.isArray(row.errors) &&
    row.errors.every((e) => e && typeof e === "object" && typeof (e as ImportProblem).field === "string")
  );
}

/** The report in an answer's body, or null when the body is not one (a 400 about the file
 * itself, a 413, a proxy's page): then the caller shows the error instead. */
export function asReport(body: unknown): ImportReport | null {
  if (!body || typeof body !== "object") return null;
  const report = body as Record<string, unknown>;
  const counts = ["created", "updated", "unchanged", "errors"].every((key) => typeof report[key] === "number");
  if (!counts || typeof report.dry_run !== "boolean" || typeof report.applied !== "boolean") return null;
  if (!Array.isArray(report.rows) || !report.rows.every(isRow)) return null;
  return body as ImportReport;
}

/** Apply is offered only for a dry run without a bad row that would change something. */
export function canApply(report: ImportReport): boolean {
  return report.dry_run && report.errors === 0 && report.created + report.updated > 0;
}

/** Bad rows first (they are what the user must fix), then in file order. */
export function rowsToShow(report: ImportReport): ImportRow[] {
  return [...report.rows].sort((a, b) => Number(b.action === "error") - Number(a.action === "error") || a.row - b.row);
}
