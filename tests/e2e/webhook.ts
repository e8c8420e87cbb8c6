/**
 * A real HTTP receiver for alert webhooks, on a free loopback port: it keeps each request's
 * body and headers, checks the HMAC-SHA256 signature when given the secret, and lets a test
 * wait for a request that matches. Answers 200 to every POST.
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";

export interface Received {
  body: Record<string, unknown>;
  raw: string;
  signature: string | undefined;
  at: number;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  private server: Server | null = null;

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // Kept as raw text; a test that wants JSON will fail on it.
        }
        const header = request.headers["x-sitelink-signature"];
        this.received.push({ body, raw, signature: Array.isArray(header) ? header[0] : header, at: Date.now() });
        response.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** True when `received` carries `sha256=<hex HMAC-SHA256 of its body>` under `secret`. */
  static signedWith(received: Received, secret: string): boolean {
    const expected = `sha256=${createHmac("sha256", secret).update(received.raw).digest("hex")}`;
    const given = received.signature ?? "";
    return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
  }

  /** The first request (from `from` on) that `match` accepts, waiting up to `timeoutMs`. */
  async waitFor(match: (r: Received) => boolean, timeoutMs: number, from = 0): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no matching webhook within ${timeoutMs} ms; got ${this.received.map((r) => r.raw).join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
