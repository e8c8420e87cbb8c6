import path from "node:path";
import { defineConfig } from "@playwright/test";
import { CHROMIUM, REPO } from "./harness";

/** Where the test writes its screenshots (one per page) and, on failure, traces. */
export const OUTPUT = path.join(REPO, "test-output", "e2e");

export default defineConfig({
  testDir: ".",
  testMatch: "*.spec.ts",
  outputDir: path.join(OUTPUT, "results"),
  timeout: 180_000,
  expect: { timeout: 15_000 },
  workers: 1,
  fullyParallel: false,
  reporter: [["list"]],
  use: {
    // Debian's Chromium; Playwright never downloads a browser here.
    browserName: "chromium",
    launchOptions: { executablePath: CHROMIUM, args: ["--no-sandbox"] },
    viewport: { width: 1440, height: 900 },
    locale: "en-US",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});
