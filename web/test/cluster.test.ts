import i18next, { type i18n } from "i18next";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { I18nextProvider, initReactI18next } from "react-i18next";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../src/api/client";
import { api } from "../src/api/endpoints";
import { type ClusterChangedEvent, parseEvent } from "../src/api/events";
import type { ClusterAnswer } from "../src/api/types";
import { changeKind, orderInstances, runningSites } from "../src/data/cluster";
import { ClusterChanges, KEPT_CHANGES } from "../src/data/clusterChanges";
import { planEvent } from "../src/data/eventPlan";
import { queryKeys } from "../src/data/queryKeys";
import { en } from "../src/i18n/en";
import { it as italian } from "../src/i18n/it";
import { ClusterChangeList, ClusterView } from "../src/pages/ClusterPage";
import { ownerText } from "../src/pages/site/ConnectionCard";
import { translator } from "./i18n";

const NOW = Date.parse("2025-11-11T10:35:00Z");

function answer(overrides: Partial<ClusterAnswer> = {}): ClusterAnswer {
  return {
    instance_id: "host-b",
    engine: "postgres",
    instances: [
      {
        instance_id: "host-c",
        started_at: "2025-11-11T09:00:00Z",
        last_seen_at: "2025-11-11T10:34:58Z",
        sites: 40,
        workers: [],
      },
      {
        instance_id: "host-b",
        started_at: "2025-11-11T08:00:00Z",
        last_seen_at: "2025-11-11T10:34:55Z",
        sites: 80,
        workers: [
          { worker: 0, pid: 4711, sites: 41, state: "running", restarts: 0 },
          { worker: 1, pid: null, sites: 39, state: "restarting", restarts: 2 },
        ],
      },
    ],
    unowned_sites: 0,
    ...overrides,
  };
}

function instanceIn(language: "en" | "it"): i18n {
  const instance = i18next.createInstance();
  void instance.use(initReactI18next).init({
    resources: { en: { translation: en }, it: { translation: italian } },
    lng: language,
    initAsync: false,
    interpolation: { escapeValue: false },
  });
  return instance;
}

function inLanguage(element: ReturnType<typeof createElement>, language: "en" | "it"): string {
  return renderToStaticMarkup(createElement(I18nextProvider, { i18n: instanceIn(language) }, element));
}

function render(body: ClusterAnswer, language: "en" | "it" = "en", nowMs = NOW): string {
  return inLanguage(createElement(ClusterView, { answer: body, nowMs }), language);
}

function changed(data: Record<string, unknown>): ClusterChangedEvent {
  const event = parseEvent("cluster.changed", JSON.stringify(data));
  if (event?.type !== "cluster.changed") throw new Error("not a cluster.changed event");
  return event;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("GET /api/v1/cluster", () => {
  it("asks the cluster endpoint and hands back its answer", async () => {
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => new Response(JSON.stringify(answer()), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    await expect(api.cluster()).resolves.toEqual(answer());
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch.mock.calls[0]?.[0]).toBe("/api/v1/cluster");
    expect(fetch.mock.calls[0]?.[1]?.method).toBe("GET");
  });

  it("turns a refusal into an ApiError with the server's detail", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ detail: "storage is down" }), { status: 503 }));
    await expect(api.cluster()).rejects.toEqual(new ApiError(503, "storage is down"));
  });
});

describe("cluster.changed", () => {
  it("refetches the cluster, the sites list, the moved sites' status and the actor tree", () => {
    const data = { change: "sites_moved", instance_id: "host-c", gained: [3], released: [4], at: "2025-11-11T10:34:00Z" };
    const event = parseEvent("cluster.changed", JSON.stringify(data));
    expect(event).toEqual({ type: "cluster.changed", ...data });
    const plan = planEvent(event!);
    expect(plan.invalidate).toEqual([
      queryKeys.cluster(),
      queryKeys.siteList(),
      queryKeys.siteStatus(3),
      queryKeys.siteStatus(4),
      queryKeys.actors(),
    ]);
    expect(plan.toast).toBeNull();
  });

  it("takes an event that names no sites, and ignores ids that are not ids", () => {
    const joined = parseEvent("cluster.changed", JSON.stringify({ change: "joined", instance_id: "host-d" }));
    expect(joined).toMatchObject({ gained: [], released: [] });
    expect(planEvent(joined!).invalidate).toEqual([queryKeys.cluster(), queryKeys.siteList(), queryKeys.actors()]);
    const odd = parseEvent("cluster.changed", JSON.stringify({ released: [1, "2", 2.5, null, 7], gained: "3" }));
    expect(odd).toMatchObject({ change: "", instance_id: "", gained: [], released: [1, 7] });
  });
});

describe("the Cluster page", () => {
  it("puts the answering instance first, then the others by id", () => {
    expect(orderInstances(answer()).map((i) => i.instance_id)).toEqual(["host-b", "host-c"]);
    expect(runningSites(answer())).toBe(120);
  });

  it("shows every instance with its sites and workers, and marks this one", () => {
    const html = render(answer());
    expect(html.indexOf('data-instance="host-b"')).toBeLessThan(html.indexOf('data-instance="host-c"'));
    expect(html.match(/data-testid="this-instance"/g)).toHaveLength(1);
    expect(html).toContain("2 instances · 120 sites running");
    expect(html).toContain("pid 4711");
    expect(html).toContain("no process");
    expect(html).toContain("41 sites");
    expect(html).toContain("2 restarts");
    expect(html).toContain('data-state="restarting"');
    expect(html).toContain("No worker processes: the sites run in the main process.");
    expect(html).toContain("Every enabled site is run by an instance.");
    expect(html).not.toContain('data-testid="unowned-sites"');
  });

  it("warns when enabled sites are run by no instance", () => {
    const html = render(answer({ unowned_sites: 3 }));
    expect(html).toContain('data-testid="unowned-sites"');
    expect(html).toContain("3 enabled sites are run by no instance.");
  });

  it("counts last seen from the time it is given, so it ticks", () => {
    const lastSeen = (html: string) => html.match(/data-testid="last-seen"[^>]*>([^<]*)</g)?.[0];
    expect(lastSeen(render(answer(), "en", NOW))).not.toEqual(lastSeen(render(answer(), "en", NOW + 60_000)));
  });

  it("speaks Italian", () => {
    const html = render(answer({ unowned_sites: 1 }), "it");
    expect(html).toContain("questa istanza");
    expect(html).toContain("2 istanze · 120 impianti attivi");
    expect(html).toContain("1 impianto abilitato non è gestito da nessuna istanza.");
    expect(html).toContain("in riavvio");
    expect(html).toContain("Ultimo segnale");
  });
});

describe("the cluster's recent changes", () => {
  it("keeps cluster.changed events only, newest first, up to its limit, and tells its listeners", () => {
    const changes = new ClusterChanges();
    let told = 0;
    changes.subscribe(() => {
      told += 1;
    });
    changes.record({ type: "reset" });
    expect(changes.list()).toEqual([]);
    for (let n = 0; n < KEPT_CHANGES + 5; n += 1) changes.record(changed({ change: "joined", instance_id: `host-${n}` }));
    expect(told).toBe(KEPT_CHANGES + 5);
    expect(changes.list()).toHaveLength(KEPT_CHANGES);
    expect(changes.list()[0]?.instance_id).toBe(`host-${KEPT_CHANGES + 4}`);
  });

  it("says who joined, who left and which sites moved, in both languages", () => {
    const list = [
      changed({ change: "sites_moved", instance_id: "host-b", gained: [1, 2, 3], released: [9], at: "2025-11-11T10:34:30Z" }),
      changed({ change: "left", instance_id: "host-c", at: "2025-11-11T10:30:00Z" }),
      changed({ change: "renamed", instance_id: "host-d", at: "2025-11-11T10:20:00Z" }),
    ];
    expect(changeKind("renamed")).toBe("other");
    const english = inLanguage(createElement(ClusterChangeList, { changes: list, nowMs: NOW }), "en");
    expect(english.match(/data-testid="cluster-change"/g)).toHaveLength(3);
    expect(english).toContain("Sites moved: host-b · took 3 sites, let go of 1 site");
    expect(english).toContain("host-c left");
    expect(english).toContain("host-d changed");
    const italian = inLanguage(createElement(ClusterChangeList, { changes: list, nowMs: NOW }), "it");
    expect(italian).toContain("Impianti spostati: host-b · ha preso 3 impianti, ha lasciato 1 impianto");
    expect(italian).toContain("host-c è uscita");
    const none = inLanguage(createElement(ClusterChangeList, { changes: [], nowMs: NOW }), "en");
    expect(none).toContain("No change since the dashboard was opened.");
  });
});

describe("a site's owner", () => {
  const t = translator("en");
  it("names the instance, and the worker when there is one", () => {
    expect(ownerText({ instance_id: "host-a", worker: null }, t)).toBe("host-a");
    expect(ownerText({ instance_id: "host-a", worker: 1 }, t)).toBe("host-a, worker 1");
    expect(ownerText(null, t)).toBe("no instance");
    expect(ownerText(null, translator("it"))).toBe("nessuna istanza");
  });
});
