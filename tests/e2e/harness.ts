/**
 * The real things the end-to-end test drives: a Mosquitto broker that can be killed and
 * restarted on the same port, and a `sitelink serve` with its own SQLite database, serving
 * the built dashboard. Every process is started on a free loopback port and stopped by pid.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "../..");

function which(...candidates: string[]): string {
  for (const candidate of candidates) {
    if (candidate.includes("/")) {
      if (existsSync(candidate)) return candidate;
    } else {
      const found = spawnSync("sh", ["-c", `command -v ${candidate}`], { encoding: "utf8" }).stdout.trim();
      if (found) return found;
    }
  }
  throw new Error(`none of ${candidates.join(", ")} is installed`);
}

export const CHROMIUM = process.env.CHROMIUM ?? which("chromium", "chromium-browser", "/usr/bin/chromium");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}

function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

/** A Mosquitto on a fixed loopback port, anonymous access, no persistence. */
export class Broker {
  private child: ChildProcess | null = null;
  private readonly config: string;

  constructor(readonly port: number, dir: string) {
    this.config = path.join(dir, "mosquitto.conf");
    writeFileSync(this.config, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  }

  async start(): Promise<void> {
    const mosquitto = which("mosquitto", "/usr/sbin/mosquitto");
    this.child = spawn(mosquitto, ["-c", this.config], { stdio: "ignore" });
    await waitFor(`mosquitto on ${this.port}`, () => portAnswers(this.port), 10_000);
  }

  /** Kills the broker at once, as a crash would. */
  async kill(): Promise<void> {
    await stopProcess(this.child, "SIGKILL");
    this.child = null;
  }

  /** Publishes one message with mosquitto_pub. */
  publish(topic: string, payload: string, retain = false): void {
    const args = ["-h", "127.0.0.1", "-p", String(this.port), "-q", "1", "-t", topic, "-m", payload];
    if (retain) args.push("-r");
    const result = spawnSync(which("mosquitto_pub"), args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`mosquitto_pub failed: ${result.stderr}`);
  }
}

/** `sitelink serve` with a fresh database, fast retries, and the built dashboard. */
export class Sitelink {
  private child: ChildProcess | null = null;
  readonly url: string;
  private output = "";

  constructor(
    readonly port: number,
    readonly adminToken: string,
    private readonly dir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const web = path.join(REPO, "web", "dist");
    if (!existsSync(path.join(web, "index.html"))) throw new Error("web/dist is missing: run `make web` first");
    const bin = process.env.SITELINK_BIN ?? path.join(REPO, ".venv", "bin", "sitelink");
    this.child = spawn(bin, ["serve", "--host", "127.0.0.1", "--port", String(this.port)], {
      cwd: this.dir,
      env: {
        ...process.env,
        DATABASE_URL: `sqlite:///${path.join(this.dir, "sitelink.db")}`,
        SITELINK_ADMIN_TOKEN: this.adminToken,
        SITELINK_WEB_DIR: web,
        SITELINK_RETRY_BASE_S: "1",
        SITELINK_RETRY_MAX_S: "2",
        SITELINK_CONNECT_TIMEOUT_S: "3",
        SITELINK_LOG_FORMAT: "json",
        MQTT_INSTANCE_ID: "e2e",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    await waitFor(
      `sitelink on ${this.port}`,
      async () => {
        if (this.child?.exitCode !== null) throw new Error(`sitelink exited:\n${this.output}`);
        return fetch(`${this.url}/api/v1/mqtt/health/`).then(
          () => true,
          () => false,
        );
      },
      30_000,
    );
  }

  async stop(): Promise<void> {
    // SIGINT is what uvicorn treats as Ctrl-C; a stuck stop is killed after 5 s.
    await stopProcess(this.child, "SIGINT");
    this.child = null;
  }

  log(): string {
    return this.output;
  }
}

export function scratchDir(): string {
  return mkdtempSync(path.join(tmpdir(), "sitelink-e2e-"));
}
