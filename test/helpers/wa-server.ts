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
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { WebSocketServer } from "ws";

export interface FakeWaServer {
  readonly url: string;
  readonly port: number;
  connections: number;
  maxConcurrent: number;
  /** WhatsApp sockets open right now. */
  readonly open: number;
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
  const tcp: Server = kind === "close" ? createHttpServer() : createServer();
  const sockets = new Set<Socket>();
  const state = {
    url: "",
    port: 0,
    connections: 0,
    maxConcurrent: 0,
    get open() {
      return open;
    },
    close: () => Promise.resolve(),
  };
  tcp.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("error", () => undefined);
    // A WhatsApp socket starts with its WebSocket upgrade request; Jaga's check of the WA Web
    // version (GET /sw.js, a plain HTTP request to the same host) is not a WhatsApp socket.
    let counted = false;
    s.once("data", (chunk: Buffer) => {
      if (chunk.subarray(0, 11).toString("latin1") === "GET /sw.js ") return;
      counted = true;
      state.connections++;
      open++;
      state.maxConcurrent = Math.max(state.maxConcurrent, open);
    });
    // The client has closed once its FIN arrives ('end'); 'close' can come a tick after the next
    // connection is accepted, which would count one closed socket as still open.
    const gone = () => {
      if (counted) open--;
      counted = false;
    };
    s.on("end", gone);
    s.on("close", () => {
      gone();
      sockets.delete(s);
    });
  });
  let wss: WebSocketServer | undefined;
  if (kind === "close") {
    wss = new WebSocketServer({ server: tcp as HttpServer });
    wss.on("error", () => undefined);
    wss.on("connection", (ws) => {
      ws.on("error", () => undefined);
      ws.close(1000);
    });
  }
  await new Promise<void>((r) => tcp.listen(0, host, r));
  const { port } = tcp.address() as { port: number };
  state.port = port;
  state.url = `ws://${host}:${port}/ws/chat`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    wss?.close();
    await new Promise<void>((r) => tcp.close(() => r()));
  };
  return state;
}
