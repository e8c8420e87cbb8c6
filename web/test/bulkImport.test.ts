import { describe, expect, it } from "vitest";
import { asReport, canApply, exportHref, formatOfFile, rowsToShow, type ImportReport } from "../src/data/bulkImport";
import { translator } from "./i18n";

function report(over: Partial<ImportReport> = {}): ImportReport {
  return {
    dry_run: true,
    applied: false,
    created: 1,
    updated: 1,
    unchanged: 1,
    errors: 0,
    rows: [
      { row: 1, code: "a", action: "create", errors: [] },
      { row: 2, code: "b", action: "update", errors: [] },
      { row: 3, code: "c", action: "unchanged", errors: [] },
    ],
    ...over,
  };
}

describe("bulk import", () => {
  it("tells the format from the file name or type, and refuses the rest", () => {
    expect(formatOfFile("Sites.CSV")).toBe("csv");
    expect(formatOfFile("sites.yml")).toBe("yaml");
    expect(formatOfFile("sites.yaml")).toBe("yaml");
    expect(formatOfFile("export", "text/csv")).toBe("csv");
    expect(formatOfFile("export", "application/x-yaml")).toBe("yaml");
    expect(formatOfFile("sites.json", "application/json")).toBeNull();
    expect(exportHref("csv")).toBe("/api/v1/mqtt/sites/export?format=csv");
  });

  it("reads the report of a 200 or a 400, and nothing else as one", () => {
    const bad = report({
      errors: 1,
      rows: [{ row: 3, code: "x", action: "error", errors: [{ field: "broker_port", message: "must be 1..65535" }] }],
    });
    expect(asReport(JSON.parse(JSON.stringify(bad)))).toEqual(bad);
    expect(asReport({ detail: "file: is not YAML (line 2)" })).toBeNull();
    expect(asReport(null)).toBeNull();
    expect(asReport({ ...report(), rows: [{ row: 1, code: "a", action: "delete", errors: [] }] })).toBeNull();
    expect(asReport({ ...report(), created: "1" })).toBeNull();
  });

  it("offers Apply only after a clean dry run that changes something", () => {
    expect(canApply(report())).toBe(true);
    expect(canApply(report({ errors: 1 }))).toBe(false);
    expect(canApply(report({ dry_run: false, applied: true }))).toBe(false);
    expect(canApply(report({ created: 0, updated: 0, unchanged: 3 }))).toBe(false);
  });

  it("shows bad rows first, then in file order", () => {
    const rows = rowsToShow(
      report({
        errors: 1,
        rows: [
          { row: 2, code: "b", action: "create", errors: [] },
          { row: 5, code: "e", action: "error", errors: [{ field: "name", message: "is required" }] },
          { row: 1, code: "a", action: "unchanged", errors: [] },
        ],
      }),
    );
    expect(rows.map((row) => row.row)).toEqual([5, 1, 2]);
  });

  it("words the summary and every action in English and Italian", () => {
    const counts = { created: 2, updated: 1, unchanged: 0, errors: 1 };
    expect(translator("en")("bulk.summary", counts)).toBe("2 to create, 1 to update, 0 unchanged, 1 bad");
    expect(translator("it")("bulk.summary", counts)).toBe("2 da creare, 1 da aggiornare, 0 invariati, 1 errati");
    for (const action of ["create", "update", "unchanged", "error"] as const) {
      expect(translator("it")(`bulk.actions.${action}`)).not.toBe(`bulk.actions.${action}`);
    }
  });
});
