/**
 * Alerts end to end, against a real sitelink, a real Mosquitto and a real webhook receiver:
 * create a channel and a rule through the dashboard, send the channel a test, kill the
 * site's broker and watch the alert fire (header count, Alerts page, site page, webhook),
 * acknowledge and silence it, bring the broker back and watch it resolve into the history.
 * Then the Alerts page and its tabs in two sizes, both languages and themes: nothing scrolls
 * sideways and axe-core finds no serious or critical violation.
 */

import { mkdirSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { Broker, freePort, scratchDir, Sitelink } from "./harness";
import { OUTPUT } from "./playwright.config";
import { WebhookReceiver } from "./webhook";

const SCREENSHOTS = path.join(OUTPUT, "screenshots");
const ADMIN_TOKEN = "e2e-admin-token-alerts-0123456789";
const CODE = "alert_site";
const SECRET = "e2e-webhook-secret";

test.describe.configure({ mode: "serial" });

let broker: Broker;
let server: Sitelink;
let hook: WebhookReceiver;
let siteId: number;

test.beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const dir = scratchDir();
  broker = new Broker(await freePort(), dir);
  await broker.start();
  hook = new WebhookReceiver(await freePort());
  await hook.start();
  server = new Sitelink(await freePort(), ADMIN_TOKEN, dir);
  await server.start();
  // The site itself is not what this test is about: made through the API, started at once.
  const answer = await fetch(`${server.url}/api/v1/mqtt/sites/`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "Alerting site", code: CODE, broker_host: "127.0.0.1", broker_port: broker.port, is_enabled: true }),
  });
  expect(answer.status).toBe(201);
  siteId = ((await answer.json()) as { site_id: number }).site_id;
});

test.afterAll(async () => {
  await server?.stop();
  await broker?.kill();
  await hook?.stop();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach("sitelink log", { body: server.log() });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

test("a rule and a channel made in the dashboard; the site's broker dies, the alert fires and resolves", async ({ page }) => {
  const count = page.getByTestId("alert-count");
  // The server sends a strict Content-Security-Policy: the alerts pages must not trip it.
  const cspViolations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect)/.test(message.text())) {
      cspViolations.push(message.text());
    }
  });

  await test.step("log in; nothing is firing", async () => {
    await page.goto(server.url);
    await page.getByTestId("login-token").fill(ADMIN_TOKEN);
    await page.getByTestId("login-submit").click();
    await expect(page.getByTestId("live-indicator")).toHaveAttribute("data-state", "live");
    await expect(count).toHaveAttribute("data-count", "0");
  });

  await test.step("a webhook channel with a secret; its test reaches the receiver, signed", async () => {
    await count.click();
    await page.getByTestId("alerts-tab-channels").click();
    await page.getByTestId("channel-new").click();
    // A URL that is not http(s) is refused next to the field, before anything is sent.
    await page.getByTestId("channel-name").fill("ops hook");
    await page.getByTestId("channel-url").fill("ftp://127.0.0.1/hook");
    await page.getByTestId("channel-submit").click();
    await expect(page.getByTestId("field-error-url")).toBeVisible();
    await page.getByTestId("channel-url").fill(hook.url);
    await page.getByTestId("channel-secret").fill(SECRET);
    await page.getByTestId("channel-submit").click();
    const row = page.getByTestId("channel-row").filter({ hasText: "ops hook" });
    await expect(row).toBeVisible();
    await expect(row).toContainText("signed");
    await expect(row).not.toContainText(SECRET);
    const before = hook.received.length;
    await row.getByTestId("channel-test").click();
    await expect(row.getByTestId("channel-test-result")).toHaveAttribute("data-outcome", "sent");
    const test = await hook.waitFor(() => true, 10_000, before);
    expect(WebhookReceiver.signedWith(test, SECRET)).toBe(true);
  });

  await test.step("a site_down rule for the site, sending to that channel", async () => {
    await page.getByTestId("alerts-tab-rules").click();
    await page.getByTestId("rule-new").click();
    await page.getByTestId("rule-name").fill("Site down");
    await page.getByTestId("rule-kind").selectOption("site_down");
    await page.getByTestId("rule-scope").selectOption("site");
    await page.getByTestId("rule-site").selectOption(String(siteId));
    await page.getByTestId("rule-for_s").fill("2");
    await page.getByTestId("rule-channel-ops hook").check();
    await page.getByTestId("rule-submit").click();
    const row = page.getByTestId("rule-row").filter({ hasText: "Site down" });
    await expect(row).toBeVisible();
    await expect(row).toContainText("ops hook");
    await shot(page, "11-alert-rules");
  });

  await test.step("the broker dies: the alert fires, live, in the header and on the Alerts page", async () => {
    await page.getByTestId("alerts-tab-alerts").click();
    await expect(page.getByTestId("alerts-active")).toHaveCount(0);
    const before = hook.received.length;
    await broker.kill();
    await expect(count).toHaveAttribute("data-count", "1", { timeout: 30_000 });
    const item = page.locator('[data-testid="alert-item"][data-state="firing"]');
    await expect(item).toHaveCount(1);
    await expect(item.getByTestId("alert-message")).toContainText("Alerting site");
    const firing = await hook.waitFor((r) => r.body.status === "firing", 30_000, before);
    expect(WebhookReceiver.signedWith(firing, SECRET)).toBe(true);
    // The attempt shows on the alert once delivered (the list is refetched at least every 15 s).
    await expect(item.getByTestId("alert-notifications")).toBeVisible({ timeout: 30_000 });
    await item.getByTestId("alert-notifications").locator("summary").click();
    await expect(item.getByTestId("notification").first()).toHaveAttribute("data-outcome", "sent", { timeout: 30_000 });
    await shot(page, "12-alert-firing");
  });

  await test.step("the site page shows the firing alert and links to it", async () => {
    await page.goto(`${server.url}/sites/${siteId}`);
    const badge = page.getByTestId("alert-badge");
    await expect(badge).toHaveAttribute("data-state", "firing");
    await badge.click();
    await expect(page).toHaveURL(/\/alerts\?alert=\d+/);
    await expect(page.locator(".alert-item.highlighted")).toHaveAttribute("data-state", "firing");
  });

  await test.step("acknowledge it, and silence its site for the maintenance", async () => {
    const item = page.locator(".alert-item.highlighted");
    await item.getByTestId("alert-ack").click();
    await expect(item).toContainText(/acknowledged by \S+/);
    await expect(item.getByTestId("alert-ack")).toHaveCount(0);
    await expect(count).toHaveAttribute("data-count", "1");
    await item.getByTestId("alert-silence").click();
    await expect(item.getByTestId("silence-site")).toHaveValue(String(siteId));
    await item.getByTestId("silence-submit").click();
    // The reason is asked for before anything is sent.
    await expect(item.getByTestId("field-error-reason")).toBeVisible();
    await item.getByTestId("silence-reason").fill("broker maintenance");
    await item.getByTestId("silence-submit").click();
    await expect(item.getByTestId("silence-form")).toHaveCount(0);
  });

  // The silence mutes the resolution's notification (a silenced alert is shown, not
  // notified): what is checked here is the page.
  await test.step("the broker comes back: the alert resolves into the history, the count goes to 0", async () => {
    await broker.start();
    await expect(count).toHaveAttribute("data-count", "0", { timeout: 30_000 });
    const resolved = page.getByTestId("alerts-history").getByTestId("alert-item").first();
    await expect(resolved).toHaveAttribute("data-state", "resolved");
    await expect(page.getByTestId("alerts-active")).toHaveCount(0);
    await shot(page, "14-alert-resolved");
  });

  await test.step("the silence is listed with its reason", async () => {
    await page.getByTestId("alerts-tab-silences").click();
    await expect(page.getByTestId("silence-row").first()).toContainText("broker maintenance");
  });

  await test.step("nothing on the alerts pages broke the Content-Security-Policy", async () => {
    expect(cspViolations).toEqual([]);
  });
});

const LOOKS = [
  { name: "desktop-en", viewport: { width: 1440, height: 900 }, locale: "en-US", colorScheme: "light" },
  { name: "phone-it-dark", viewport: { width: 390, height: 844 }, locale: "it-IT", colorScheme: "dark" },
  { name: "desktop-it-dark", viewport: { width: 1440, height: 900 }, locale: "it-IT", colorScheme: "dark" },
  { name: "phone-en", viewport: { width: 390, height: 844 }, locale: "en-US", colorScheme: "light" },
] as const;

for (const look of LOOKS) {
  test(`the alerts pages at ${look.viewport.width} px, ${look.locale}, ${look.colorScheme}: no sideways scroll, no serious axe violation`, async ({
    browser,
  }) => {
    const context = await browser.newContext({
      viewport: look.viewport,
      locale: look.locale,
      colorScheme: look.colorScheme,
      baseURL: server.url,
    });
    const page = await context.newPage();
    const italian = look.locale === "it-IT";
    await page.goto("/");
    await page.getByTestId("login-token").fill(ADMIN_TOKEN);
    await page.getByTestId("login-submit").click();
    await expect(page.getByTestId("alert-count")).toHaveAttribute("data-count", "0");
    const visit = async (name: string, url: string, ready: () => Promise<void>) => {
      await test.step(name, async () => {
        await page.goto(url);
        await ready();
        const { scroll, width } = await page.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          width: document.documentElement.clientWidth,
        }));
        expect.soft(scroll, `${name}: page is ${scroll} px wide on a ${width} px screen`).toBeLessThanOrEqual(width);
        const results = await new AxeBuilder({ page }).analyze();
        const bad = results.violations
          .filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(" | ")}`);
        expect.soft(bad, `${name}: axe violations`).toEqual([]);
        await page.screenshot({ path: path.join(SCREENSHOTS, `${look.name}-${name}.png`), fullPage: true });
      });
    };
    await visit("alerts", "/alerts", async () => {
      const resolved = page.getByTestId("alerts-history").getByTestId("alert-item").first();
      await expect(resolved.getByTestId("alert-state")).toHaveText(italian ? "risolto" : "resolved");
      await resolved.getByTestId("alert-notifications").locator("summary").click();
      await expect(resolved.getByTestId("notification").first()).toBeVisible();
    });
    await visit("alert-silences", "/alerts?tab=silences", async () => {
      await expect(page.getByTestId("silence-row").first()).toContainText("broker maintenance");
    });
    await visit("alert-rules", "/alerts?tab=rules", async () => {
      await expect(page.getByTestId("rule-row").first()).toBeVisible();
      await page.getByTestId("rule-edit").first().click();
      await expect(page.getByTestId("rule-form")).toBeVisible();
    });
    await visit("alert-channels", "/alerts?tab=channels", async () => {
      await expect(page.getByTestId("channel-row").first()).toBeVisible();
      await page.getByTestId("channel-new").click();
      await expect(page.getByTestId("channel-form")).toBeVisible();
    });
    await context.close();
  });
}
