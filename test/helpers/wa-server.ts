/**
 * Stand-ins for web.whatsapp.com on 127.0.0.1, each a different way to fail: a port that
 * refuses, a WebSocket server that closes every connection at once, and a TCP server that
 * accepts and never answers (the handshake times out). Each counts connections and the most
 * that were open at the same time, so tests can assert "never two sockets".
 *
 * @example
 * const srv = await startWsServer("close");
 * // whatsapp.url = srv.url
 * assert.equal(srv.maxConcurrent, 1);
 * await srv.close();
 */
import { createServer, type Server, type Socket } from "node:net";
import { WebSocketServer } from "ws";

export interface FakeWaServer {
  readonly url: string;
  readonly port: number;
  connections: number;
  maxConcurrent: number;
  close(): Promise<void>;
}

/** A port nothing listens on: bound, its number noted, and closed again. */
export async function refusingPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** `close`: accept the WebSocket, then close it at once. `silent`: accept TCP, answer nothing. */
export async function startWsServer(kind: "close" | "silent", host = "127.0.0.1"): Promise<FakeWaServer> {
  let open = 0;
  const tcp: Server = createServer();
  const sockets = new Set<Socket>();
  const state: FakeWaServer = { url: "", port: 0, connections: 0, maxConcurrent: 0, close: () => Promise.resolve() };
  tcp.on("connection", (s) => {
    sockets.add(s);
    state.connections++;
    open++;
    state.maxConcurrent = Math.max(state.maxConcurrent, open);
    s.on("error", () => undefined);
    s.on("close", () => {
      open--;
      sockets.delete(s);
    });
  });
  let wss: WebSocketServer | undefined;
  if (kind === "close") {
    wss = new WebSocketServer({ noServer: true });
    wss.on("error", () => undefined);
    tcp.on("connection", (s) => {
      // Hand the raw TCP socket to an HTTP parser: the simplest way to use ws on a net.Server.
      s.once("data", (head) => {
        const lines = head.toString("latin1").split("\r\n");
        const key = lines.find((l) => l.toLowerCase().startsWith("sec-websocket-key:"))?.split(":")[1]?.trim();
        if (!key) return s.destroy();
        const req = { headers: { "sec-websocket-key": key, "sec-websocket-version": "13", upgrade: "websocket", connection: "Upgrade" }, method: "GET" };
        wss!.handleUpgrade(req as never, s, Buffer.alloc(0), (ws) => {
          ws.on("error", () => undefined);
          ws.close(1000);
        });
      });
    });
  }
  await new Promise<void>((r) => tcp.listen(0, host, r));
  const { port } = tcp.address() as { port: number };
  state.url = `ws://${host}:${port}/ws/chat`;
  Object.assign(state, { port });
  state.close = async () => {
    for (const s of sockets) s.destroy();
    wss?.close();
    await new Promise<void>((r) => tcp.close(() => r()));
  };
  return state;
}
