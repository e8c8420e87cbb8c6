/**
 * The dashboard, live, against a real sitelink and a real Mosquitto: log in, create a site,
 * start it and watch the badge turn green without reloading, publish a heartbeat and watch
 * the datalogger appear with its sensors, kill the broker and watch "MQTT error", bring it
 * back and watch the site reconnect, stop it and watch its devices turn unreachable.
 *
 * Then every page (login, fleet, site, datalogger, actors, cluster, audit, tokens, and the phone menu)
 * at 1440 px and at 390×844, in en-US (light) and it-IT (dark): nothing scrolls sideways,
 * axe-core finds no serious or critical violation, and each is photographed into
 * test-output/e2e/screenshots/ as `<look>-<page>.png`.
 */

import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { Broker, freePort, scratchDir, Sitelink } from "./harness";
import { OUTPUT } from "./playwright.config";

const SCREENSHOTS = path.join(OUTPUT, "screenshots");
const ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef";
const CODE = "e2e_site";
const SERIAL = "E2E-001";

test.describe.configure({ mode: "serial" });

let broker: Broker;
let server: Sitelink;

test.beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const dir = scratchDir();
  broker = new Broker(await freePort(), dir);
  await broker.start();
  server = new Sitelink(await freePort(), ADMIN_TOKEN, dir);
  await server.start();
});

test.afterAll(async () => {
  await server?.stop();
  await broker?.kill();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach("sitelink log", { body: server.log() });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

function heartbeat(temperature: number): string {
  return JSON.stringify({
    firmware: "V.5.53.0",
    uptime_s: 86400,
    gateway: "1",
    sensors: [
      { id: "t_ext", label: "Temperatura Esterna", type: "temperature", value: temperature, unit: "°C" },
      { id: "rh", label: "Umidità", type: "humidity", value: 55.5, unit: "%" },
    ],
  });
}

test("a live fleet in the browser, from login to a broker outage and back", async ({ page }) => {
  const badge = page.getByTestId("site-status-badge").first();
  // The server sends a strict Content-Security-Policy: the dashboard must not trip it.
  const cspViolations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect)/.test(message.text())) {
      cspViolations.push(message.text());
    }
  });

  await test.step("log in with a token; the token is not kept by the page", async () => {
    await page.goto(server.url);
    await shot(page, "01-login");
    await page.getByTestId("login-token").fill(ADMIN_TOKEN);
    await page.getByTestId("login-submit").click();
    await expect(page.getByTestId("whoami")).toContainText("admin");
    await expect(page.getByTestId("live-indicator")).toHaveAttribute("data-state", "live");
    expect(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage))).not.toContain(
      ADMIN_TOKEN,
    );
  });

  await test.step("create a site; it starts disconnected", async () => {
    await page.getByTestId("new-site").click();
    await page.getByTestId("site-form-name").fill("End to end");
    await page.getByTestId("site-form-code").fill(CODE);
    await page.getByTestId("site-form-broker_host").fill("127.0.0.1");
    await page.getByTestId("site-form-broker_port").fill(String(broker.port));
    await page.getByTestId("site-form-submit").click();
    await expect(page).toHaveURL(/\/sites\/\d+$/);
    await expect(badge).toHaveAttribute("data-status", "disconnected");
    await expect(badge).toHaveText("MQTT disconnected");
  });

  await test.step("start it from the shield menu; the badge turns green without a reload", async () => {
    const navigations: string[] = [];
    page.on("framenavigated", (frame) => navigations.push(frame.url()));
    await page.getByTestId("admin-menu").click();
    await page.getByTestId("action-start").click();
    await expect(badge).toHaveAttribute("data-status", "connected");
    await expect(badge).toHaveText("MQTT connected");
    expect(navigations).toEqual([]);
  });

  await test.step("a heartbeat makes the datalogger appear with its sensors", async () => {
    broker.publish(`${CODE}/datalogger/monstro/${SERIAL}/heartbeat`, heartbeat(21.5));
    const row = page.getByTestId("datalogger-row").filter({ hasText: SERIAL });
    await expect(row).toBeVisible();
    await expect(row.getByTestId("availability-badge")).toHaveAttribute("data-availability", "online");
    await shot(page, "03-site");
    for (const value of [22.0, 22.5, 23.1]) {
      broker.publish(`${CODE}/datalogger/monstro/${SERIAL}/heartbeat`, heartbeat(value));
    }
    await row.getByTestId("datalogger-link").click();
    await expect(page.getByTestId("sensor-card")).toHaveCount(2);
    const temperature = page.getByTestId("sensor-card").filter({ hasText: "Temperatura Esterna" });
    await expect(temperature.getByTestId("sensor-value")).toHaveText("23.10");
    await expect(temperature).toContainText("°C");
    await expect(temperature.getByTestId("sensor-chart")).toBeVisible();
    await shot(page, "04-datalogger");
    // A week is read as the database's buckets: the four readings fall in one (two, across a boundary).
    await page.getByTestId(`window-${7 * 86400}`).click();
    await expect(temperature).toContainText("average per 30m");
    await expect(temperature.getByTestId("sensor-chart")).toHaveAttribute("data-points", /^[12]$/);
    await page.getByTestId("window-3600").click();
  });

  await test.step("the fleet shows the site connected with its device", async () => {
    await page.getByRole("link", { name: "Fleet", exact: true }).first().click();
    const row = page.getByTestId("site-row").filter({ hasText: CODE });
    await expect(row.getByTestId("site-status-badge")).toHaveAttribute("data-status", "connected");
    await expect(row.getByTestId("device-counts")).toContainText("1 online");
    await shot(page, "02-fleet");
  });

  await test.step("killing the broker turns the badge to MQTT error, without a reload", async () => {
    await page.getByTestId("site-link").filter({ hasText: CODE }).click();
    await expect(badge).toHaveAttribute("data-status", "connected");
    await broker.kill();
    await expect(badge).toHaveAttribute("data-status", "error");
    await expect(badge).toHaveText("MQTT error");
    await expect(page.getByTestId("site-error")).toBeVisible();
    await expect(page.getByTestId("toast").filter({ hasText: `(${CODE}): MQTT error` })).toBeVisible();
    await shot(page, "05-site-error");
  });

  await test.step("bringing the broker back reconnects the site by itself", async () => {
    await broker.start();
    await expect(badge).toHaveAttribute("data-status", "connected", { timeout: 30_000 });
  });

  await test.step("the actor tree and the audit log show what happened", async () => {
    await page.getByRole("link", { name: "Actors" }).click();
    await expect(page.getByTestId("actor-tree")).toContainText(CODE);
    await shot(page, "06-actors");
    await page.getByRole("link", { name: "Audit" }).click();
    await expect(page.getByTestId("audit-table")).toContainText("site.start");
    await shot(page, "07-audit");
  });

  await test.step("the Cluster page shows this instance and its workers running the site, and the site names its owner", async () => {
    await page.getByRole("link", { name: "Cluster" }).click();
    const card = page.getByTestId("instance-card").filter({ has: page.getByTestId("this-instance") });
    await expect(card).toHaveCount(1);
    await expect(card).toHaveAttribute("data-instance", "e2e");
    await expect(card.getByTestId("instance-sites")).toHaveText("1");
    // its site workers (SITELINK_WORKERS, default one per core), each running
    const workers = card.getByTestId("worker-row");
    await expect(workers.first()).toBeVisible();
    for (const row of await workers.all()) {
      await expect(row.locator("[data-state]")).toHaveAttribute("data-state", "running");
    }
    await expect(page.getByTestId("unowned-sites")).toHaveCount(0);
    // Last seen is counted from the page's clock, which ticks between refetches.
    await expect(card.getByTestId("last-seen")).toContainText("ago");
    await shot(page, "06b-cluster");
    await page.getByRole("link", { name: "Fleet", exact: true }).first().click();
    await page.getByTestId("site-link").filter({ hasText: CODE }).click();
    await expect(page.getByTestId("site-owner")).toHaveText(/^e2e, worker \d+$/);
    await page.getByTestId("site-owner").getByRole("link").click();
    await expect(page).toHaveURL(/\/cluster$/);
  });

  await test.step("a token made on the Tokens page is shown once, works, and is revoked", async () => {
    await page.getByRole("link", { name: "Tokens" }).click();
    await page.getByTestId("token-name").fill("e2e-viewer");
    await page.getByTestId("token-create").click();
    const secret = (await page.getByTestId("new-token-value").textContent()) ?? "";
    expect(secret.length).toBeGreaterThan(30);
    const me = await fetch(`${server.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${secret}` } });
    expect(await me.json()).toEqual({ name: "e2e-viewer", role: "viewer" });
    const row = page.getByTestId("token-row").filter({ hasText: "e2e-viewer" });
    await expect(row).toBeVisible();
    await shot(page, "09-tokens-created");
    page.once("dialog", (dialog) => void dialog.accept());
    await row.getByTestId("token-revoke").click();
    await expect(row).toHaveCount(0);
    const after = await fetch(`${server.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${secret}` } });
    expect(after.status).toBe(401);
    // The audit export is a plain link: the session cookie is enough.
    const csv = await page.request.get(`${server.url}/api/v1/audit?format=csv`);
    expect(csv.headers()["content-type"]).toContain("text/csv");
    expect(await csv.text()).toContain("token.revoke");
  });

  await test.step("stopping the site: its devices read unreachable at once, Publish waits, History says Stopped once", async () => {
    await page.getByRole("link", { name: "Fleet", exact: true }).first().click();
    await page.getByTestId("site-link").filter({ hasText: CODE }).click();
    await expect(badge).toHaveAttribute("data-status", "connected");
    await expect(page.getByTestId("publish-submit")).toBeEnabled();
    await page.getByTestId("admin-menu").click();
    await page.getByTestId("action-stop").click();
    await expect(badge).toHaveAttribute("data-status", "disconnected");
    const row = page.getByTestId("datalogger-row").filter({ hasText: SERIAL });
    await expect(row.getByTestId("availability-badge")).toHaveAttribute("data-availability", "unreachable", { timeout: 3000 });
    await expect(page.getByTestId("publish-submit")).toBeDisabled();
    await expect(page.getByTestId("publish-why")).toBeVisible();
    const newest = page.getByTestId("history-timeline").locator("li").first();
    await expect(newest).toContainText("Stopped");
    expect(((await newest.textContent()) ?? "").match(/Stopped/g)).toHaveLength(1);
    await shot(page, "08-site-stopped");
    await page.getByTestId("admin-menu").click();
    await page.getByTestId("action-start").click();
    await expect(badge).toHaveAttribute("data-status", "connected");
  });

  await test.step("export the fleet as YAML; import a file with one new site: dry run, report, then Apply", async () => {
    await page.getByRole("link", { name: "Fleet", exact: true }).first().click();
    await page.getByTestId("export-menu").locator("summary").click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-yaml").click()]);
    expect(download.suggestedFilename()).toBe("sites.yaml");
    const exported = await readFile((await download.path()) ?? "", "utf8");
    expect(exported).toContain(CODE);
    await expect(page.getByTestId("export-yaml")).toBeHidden();

    const imported = "e2e_imported";
    await page.getByTestId("import-sites").click();
    await page.getByTestId("import-file").setInputFiles({
      name: "new.yaml",
      mimeType: "application/yaml",
      buffer: Buffer.from(`sites:\n  - {code: ${imported}, name: Imported, broker_host: 127.0.0.1, is_enabled: false}\n`),
    });
    const row = page.getByTestId("import-row");
    await expect(row).toHaveCount(1);
    await expect(row).toHaveAttribute("data-action", "create");
    await expect(page.getByTestId("import-report")).toContainText("1 to create, 0 to update, 0 unchanged, 0 bad");
    await expect(page.getByTestId("site-row").filter({ hasText: imported })).toHaveCount(0);
    await shot(page, "10-import-dry-run");
    await page.getByTestId("import-apply").click();
    await expect(page.getByTestId("import-report")).toContainText("Applied.");
    await expect(page.getByTestId("import-apply")).toHaveCount(0);
    await expect(page.getByTestId("site-row").filter({ hasText: imported })).toHaveCount(1);
    await page.getByTestId("import-sites").click();
  });

  await test.step("nothing the dashboard did broke its Content-Security-Policy", async () => {
    expect(cspViolations).toEqual([]);
  });
});

/** Every page of the dashboard, in the two sizes of the issue, in both languages and themes. */
const LOOKS = [
  { name: "desktop-en", viewport: { width: 1440, height: 900 }, locale: "en-US", colorScheme: "light" },
  { name: "phone-it-dark", viewport: { width: 390, height: 844 }, locale: "it-IT", colorScheme: "dark" },
  { name: "desktop-it-dark", viewport: { width: 1440, height: 900 }, locale: "it-IT", colorScheme: "dark" },
  { name: "phone-en", viewport: { width: 390, height: 844 }, locale: "en-US", colorScheme: "light" },
] as const;

interface Ids {
  siteId: number;
  dataloggerId: number;
}

async function ids(): Promise<Ids> {
  const headers = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const sites = (await (await fetch(`${server.url}/api/v1/mqtt/sites/`, { headers })).json()) as {
    sites: { site_id: number; code: string }[];
  };
  const siteId = sites.sites.find((s) => s.code === CODE)?.site_id;
  const loggers = (await (await fetch(`${server.url}/api/v1/mqtt/dataloggers/?site_id=${siteId}`, { headers })).json()) as {
    dataloggers: { id: number; serial_number: string }[];
  };
  const dataloggerId = loggers.dataloggers.find((d) => d.serial_number === SERIAL)?.id;
  if (siteId === undefined || dataloggerId === undefined) throw new Error("the first test's site and datalogger are missing");
  return { siteId, dataloggerId };
}

/** The page is no wider than the screen: nothing scrolls sideways. */
async function expectNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: document.documentElement.clientWidth,
  }));
  expect.soft(scroll, `${what}: page is ${scroll} px wide on a ${width} px screen`).toBeLessThanOrEqual(width);
}

/** axe-core on the page as it is: no serious or critical violation. */
async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(" | ")}`);
  expect.soft(bad, `${what}: axe violations`).toEqual([]);
}

for (const look of LOOKS) {
  test(`every page at ${look.viewport.width} px, ${look.locale}, ${look.colorScheme}: no sideways scroll, no serious axe violation`, async ({
    browser,
  }) => {
    const { siteId, dataloggerId } = await ids();
    const context = await browser.newContext({
      viewport: look.viewport,
      locale: look.locale,
      colorScheme: look.colorScheme,
      baseURL: server.url,
    });
    const page = await context.newPage();
    const italian = look.locale === "it-IT";
    const phone = look.viewport.width < 700;
    const visit = async (name: string, path: string, ready: () => Promise<void>) => {
      await test.step(name, async () => {
        await page.goto(path);
        await ready();
        await expectNoSidewaysScroll(page, name);
        await expectAccessible(page, name);
        await page.screenshot({ path: path_(`${look.name}-${name}`), fullPage: true });
      });
    };

    await visit("login", "/", async () => {
      await expect(page.getByTestId("login-submit")).toHaveText(italian ? "Accedi" : "Sign in");
    });
    await page.getByTestId("login-token").fill(ADMIN_TOKEN);
    await page.getByTestId("login-submit").click();
    await expect(page.getByTestId("whoami")).toBeAttached();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe(italian ? "it" : "en");

    await visit("fleet", "/", async () => {
      const row = page.getByTestId("site-row").filter({ hasText: CODE });
      await expect(row.getByTestId("site-status-badge")).toHaveText(italian ? "MQTT connesso" : "MQTT connected");
      await expect(row.getByTestId("device-counts")).toBeVisible();
    });
    await test.step("the fleet's Export menu and Import panel fit the screen", async () => {
      await page.getByTestId("export-menu").locator("summary").click();
      await expect(page.getByTestId("export-csv")).toBeVisible();
      await page.getByTestId("import-sites").click();
      await expect(page.getByTestId("import-file")).toBeVisible();
      await page.getByTestId("import-file").setInputFiles({
        name: "bad.csv",
        mimeType: "text/csv",
        buffer: Buffer.from(`code,name,broker_host,broker_port\n${CODE}_bad_port_with_a_long_code,Bad,127.0.0.1,99999\n`),
      });
      await expect(page.getByTestId("import-row")).toHaveAttribute("data-action", "error");
      await expect(page.getByTestId("import-row")).toContainText("broker_port");
      await expect(page.getByTestId("import-apply")).toHaveCount(0);
      await expectNoSidewaysScroll(page, "fleet import");
      await expectAccessible(page, "fleet import");
      await page.screenshot({ path: path_(`${look.name}-fleet-import`), fullPage: true });
      await page.getByTestId("import-sites").click();
      await page.getByTestId("export-menu").locator("summary").click();
    });
    if (phone) {
      await test.step("the phone menu folds the navigation and a readable Log out", async () => {
        await expect(page.getByTestId("logout")).toBeHidden();
        await page.getByTestId("menu-toggle").click();
        await expect(page.getByTestId("logout")).toBeVisible();
        await expect(page.getByTestId("logout")).toHaveText(italian ? "Esci" : "Log out");
        await expectNoSidewaysScroll(page, "menu");
        await expectAccessible(page, "menu");
        await page.screenshot({ path: path_(`${look.name}-menu`), fullPage: true });
        await page.getByTestId("menu-toggle").click();
      });
    }
    await visit("site", `/sites/${siteId}`, async () => {
      await expect(page.getByTestId("site-status-badge").first()).toHaveAttribute("data-status", "connected");
      await expect(page.getByTestId("datalogger-row").filter({ hasText: SERIAL }).getByTestId("availability-badge")).toBeVisible();
      await expect(page.getByTestId("history-timeline")).toBeVisible();
      await expect(page.getByTestId("site-owner")).toHaveText(/^e2e, worker \d+$/);
    });
    await visit("datalogger", `/dataloggers/${dataloggerId}`, async () => {
      await expect(page.getByTestId("sensor-card")).toHaveCount(2);
      await expect(page.getByTestId("sensor-chart").first()).toBeVisible();
      // Italian numbers: a decimal comma.
      if (italian) await expect(page.getByTestId("sensor-value").first()).toContainText(",");
    });
    await visit("actors", "/actors", async () => {
      await expect(page.getByTestId("actor-tree")).toContainText(CODE);
    });
    await visit("cluster", "/cluster", async () => {
      const self = page.getByTestId("instance-card").filter({ has: page.getByTestId("this-instance") });
      await expect(self.getByTestId("this-instance")).toHaveText(italian ? "questa istanza" : "this instance");
      await expect(self).toHaveAttribute("data-instance", "e2e");
      await expect(page.getByTestId("cluster-changes")).toBeVisible();
    });
    await visit("audit", "/audit", async () => {
      await expect(page.getByTestId("audit-table")).toContainText("site.start");
    });
    await visit("tokens", "/tokens", async () => {
      await expect(page.getByTestId("token-row").first()).toBeVisible();
    });
    await context.close();
  });
}

function path_(name: string): string {
  return path.join(SCREENSHOTS, `${name}.png`);
}
