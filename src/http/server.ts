/**
 * The health server, on 127.0.0.1 only: GET /health (JSON; 200 when ok, 503 when degraded, so
 * a plain HTTP check — curl -f, a load balancer, uptime monitors — sees it), GET /metrics (Prometheus), and,
 * with JAGA_HTTP_TOKEN set, POST /whatsapp/reconnect and POST /whatsapp/breaker/reset behind
 * `Authorization: Bearer <token>`. Without a token those routes answer 404, as if absent.
 * A port already in use fails start() with a message naming the holder when it can be found.
 *
 * @example
 * const http = await startHttpServer({ port: 8321, token, sources, log, t });
 * // curl -s 127.0.0.1:8321/health
 * await http.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import { bearerOk } from "./auth.js";
import { healthSnapshot, type HealthSources } from "./health.js";
import { renderMetrics } from "./metrics.js";
import { portHolder } from "./port-holder.js";

export interface HttpOptions {
  /** 0 picks a free port (tests). */
  port: number;
  token?: string;
  sources: HealthSources;
  log: Logger;
  t: Translate;
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Thrown when the port is taken; `message` is the user-facing text. */
export class PortInUseError extends Error {
  readonly code = "EADDRINUSE";
  constructor(
    message: string,
    readonly port: number,
    readonly holder: string | undefined,
  ) {
    super(message);
    this.name = "PortInUseError";
  }
}

export async function startHttpServer(o: HttpOptions): Promise<HttpServer> {
  const server = createServer((req, res) => {
    handle(req, res, o).catch((err: unknown) => {
      o.log.error({ err, path: req.url }, "health endpoint failed");
      if (!res.headersSent) send(res, 500, { error: "internal" });
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EADDRINUSE") return reject(err);
      void portHolder(o.port).then((holder) => {
        const text = o.t("http.port_in_use", { port: o.port, holder: holder ? o.t("http.port_holder", { holder }) : "" });
        reject(new PortInUseError(text, o.port, holder));
      });
    });
    server.listen(o.port, "127.0.0.1", () => resolve());
  });
  server.on("error", (err) => o.log.error({ err }, "health server error"));
  const port = (server.address() as AddressInfo).port;
  o.log.info(o.t("http.listening", { port }));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, o: HttpOptions): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  const wa = o.sources.whatsapp;
  if (req.method === "GET" && path === "/health") {
    const snapshot = await healthSnapshot(o.sources);
    return send(res, snapshot.status === "ok" ? 200 : 503, snapshot);
  }
  if (req.method === "GET" && path === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    res.end(renderMetrics(await healthSnapshot(o.sources)));
    return;
  }
  const action = path === "/whatsapp/reconnect" ? "reconnect" : path === "/whatsapp/breaker/reset" ? "breaker-reset" : null;
  // No token configured: the action routes do not exist.
  if (action && o.token) {
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" }, { allow: "POST" });
    req.resume();
    if (!bearerOk(req.headers.authorization, o.token)) {
      o.log.warn({ path, from: req.socket.remoteAddress }, "health endpoint: bad or missing token");
      return send(res, 401, { error: "unauthorized" }, { "www-authenticate": "Bearer" });
    }
    if (!wa) return send(res, 409, { error: "whatsapp is not the transport in use" });
    if (action === "reconnect") wa.reconnectNow();
    else wa.resetBreaker();
    o.log.info({ action }, "health endpoint action");
    return send(res, 202, { ok: true, action, whatsapp: wa.status().state });
  }
  send(res, 404, { error: "not found" });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}
