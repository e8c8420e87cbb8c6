import { describe, expect, it } from "vitest";
import { countBySite, countByStatus, filterSites } from "../src/data/fleet";
import { nextSort, sortRows } from "../src/data/sorting";
import { datalogger, gateway, site } from "./fixtures";

describe("fleet views", () => {
  it("counts dataloggers and gateways per site by availability", () => {
    const counts = countBySite(
      [datalogger(1, 1), datalogger(2, 1, { availability: "offline" }), datalogger(3, 2, { availability: "unreachable" })],
      [gateway(1, 1)],
    );
    expect(counts.get(1)).toEqual({ online: 2, offline: 1, unreachable: 0, unknown: 0 });
    expect(counts.get(2)).toEqual({ online: 0, offline: 0, unreachable: 1, unknown: 0 });
    expect(counts.get(3)).toBeUndefined();
  });

  it("filters by status and searches name and code, case-insensitively", () => {
    const sites = [
      site(1, { status: "connected" }),
      site(2, { status: "error", site_name: "Cantiere Nord" }),
      site(12, { status: "error" }),
    ];
    expect(filterSites(sites, { status: "error", search: "" }).map((s) => s.site_id)).toEqual([2, 12]);
    expect(filterSites(sites, { status: "all", search: "nord" }).map((s) => s.site_id)).toEqual([2]);
    expect(filterSites(sites, { status: "all", search: "SITE_01" }).map((s) => s.site_id)).toEqual([12]);
    expect(countByStatus(sites)).toMatchObject({ connected: 1, error: 2, connecting: 0 });
  });

  it("handles 1,000 sites × 20 devices quickly", () => {
    const devices = Array.from({ length: 20_000 }, (_, i) => datalogger(i, i % 1000));
    const started = performance.now();
    const counts = countBySite(devices);
    expect(counts.size).toBe(1000);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe("sorting", () => {
  const rows = [
    { name: "SN-10", uptime: 50 as number | null },
    { name: "SN-9", uptime: null },
    { name: "SN-2", uptime: 99 },
  ];
  it("sorts numerically inside strings, missing values last in both directions", () => {
    expect(sortRows(rows, { key: "name", direction: "asc" }, (r) => r.name).map((r) => r.name)).toEqual([
      "SN-2",
      "SN-9",
      "SN-10",
    ]);
    expect(sortRows(rows, { key: "uptime", direction: "desc" }, (r) => r.uptime).map((r) => r.name)).toEqual([
      "SN-2",
      "SN-10",
      "SN-9",
    ]);
  });
  it("flips direction on the same column and starts ascending on a new one", () => {
    expect(nextSort({ key: "a", direction: "asc" }, "a")).toEqual({ key: "a", direction: "desc" });
    expect(nextSort<"a" | "b">({ key: "a", direction: "desc" }, "b")).toEqual({ key: "b", direction: "asc" });
  });
});

