/**
 * One Baileys socket as the reconnector's {@link ManagedSocket}: it resolves the WhatsApp host
 * through the reconnector's route (a `lookup` on the WebSocket agent), reports "open", and
 * resolves `closed` only once the underlying WebSocket's ready state is CLOSED and every
 * listener on it and on the Baileys event emitter is gone — so the next socket never overlaps.
 * Baileys' own reconnect habits do not apply: this module never opens a second socket.
 *
 * @example
 * const socket = openBaileysSocket(route, { open: () => log.info("open") }, { url, auth, logger, connectTimeoutMs: 20_000 });
 * const why = await socket.closed; // { code: 408, errorCode: "ENOTFOUND", message: "..." }
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { CacheStore, GroupMetadata, WAMessageKey, WASocket, WAVersion, proto } from "@whiskeysockets/baileys";
import { Browsers, makeWASocket } from "./lib.js";
import type WebSocket from "ws";
import type { Logger } from "../../log.js";
import { makeLookup, type Route } from "../../dns/lookup.js";
import type { CloseInfo } from "../../reconnect/decide.js";
import type { ManagedSocket, SocketHooks } from "../../reconnect/reconnector.js";
import type { SqliteAuthState } from "./auth-state.js";

export interface BaileysSocketOptions {
  url: string;
  connectTimeoutMs: number;
  auth: SqliteAuthState;
  /** Baileys' own log (a child of Jaga's; it is chatty, so give it a higher level). */
  logger: Logger;
  /** Each new QR while not paired. */
  onQr?: (qr: string, sock: WASocket) => void;
  /** The socket was built: attach message listeners here. */
  onSocket?: (sock: WASocket) => void;
  /** The WA Web version to announce (version.ts); Baileys' built-in one when absent. */
  version?: WAVersion;
  /** Answers a recipient's retry request with what was sent (undefined when unknown). */
  getMessage?: (key: WAMessageKey) => Promise<proto.IMessage | undefined>;
  /** The alert group's metadata from Jaga's cache (group.ts), so sends do not query it. */
  cachedGroupMetadata?: (jid: string) => Promise<GroupMetadata | undefined>;
  /** Caches that outlive the socket (caches.ts). */
  caches?: { msgRetryCounterCache: CacheStore; userDevicesCache: CacheStore; placeholderResendCache: CacheStore };
  /** Chats never read: dropped by Baileys before decryption (see inbound.ts ignoreJid). */
  shouldIgnoreJid?: (jid: string) => boolean;
  /** Baileys' keep-alive ping interval (tests shorten it). */
  keepAliveIntervalMs?: number;
  /** How long to wait for a closing WebSocket before terminating it. */
  closeGraceMs?: number;
}

/** WebSocket.CLOSED; ws is imported as a type only so this stays a plain number. */
const WS_CLOSED = 3;

/** Opens one socket; never throws: a failure to even build it comes back through `closed`. */
export function openBaileysSocket(route: Route, hooks: SocketHooks, o: BaileysSocketOptions): ManagedSocket {
  let resolveClosed!: (info: CloseInfo) => void;
  const closed = new Promise<CloseInfo>((resolve) => (resolveClosed = resolve));
  let sock: WASocket | undefined;
  let finishing = false;
  let agent: HttpAgent | undefined;

  const finish = async (error: unknown) => {
    if (finishing) return;
    finishing = true;
    const info = closeInfo(error);
    if (sock) {
      const raw = rawSocket(sock);
      if (raw && raw.readyState !== WS_CLOSED) await closedOrTerminated(raw, o.closeGraceMs ?? 5_000);
      // Only now, CLOSED: drop every listener so nothing of this socket can fire again.
      raw?.removeAllListeners();
      sock.ws.removeAllListeners();
      // Keep one sink: a late 'error' with no listener would throw from the emitter.
      sock.ws.on("error", () => undefined);
      for (const ev of ["connection.update", "creds.update", "messages.upsert"] as const) sock.ev.removeAllListeners(ev);
    }
    agent?.destroy();
    resolveClosed(info);
  };

  try {
    const lookup = makeLookup(route);
    agent = o.url.startsWith("wss:") ? new HttpsAgent({ lookup, keepAlive: false }) : new HttpAgent({ lookup, keepAlive: false });
    sock = makeWASocket({
      waWebSocketUrl: o.url,
      connectTimeoutMs: o.connectTimeoutMs,
      keepAliveIntervalMs: o.keepAliveIntervalMs ?? 30_000,
      auth: o.auth.state,
      // An http.Agent for ws:// (tests); Baileys types the option as an https.Agent.
      agent: agent as HttpsAgent,
      logger: o.logger,
      browser: Browsers.ubuntu("Jaga"),
      markOnlineOnConnect: false,
      ...(o.version ? { version: o.version } : {}),
      ...(o.getMessage ? { getMessage: o.getMessage } : {}),
      ...(o.cachedGroupMetadata ? { cachedGroupMetadata: o.cachedGroupMetadata } : {}),
      ...o.caches,
      shouldIgnoreJid: o.shouldIgnoreJid ?? (() => false),
      syncFullHistory: false,
      // History sync stays on (Baileys learns LID mappings from it); the transport ignores
      // history messages, so nothing old is ever run as a command.
    });
  } catch (err) {
    o.logger.warn({ err }, "could not build a WhatsApp socket");
    void finish(err);
    return { closed, close: () => undefined };
  }
  const built = sock;
  let pairingShown = false;
  built.ev.on("creds.update", () => {
    const failed = (err: unknown) => o.logger.error({ err }, "saving WhatsApp credentials failed");
    try {
      void Promise.resolve(o.auth.saveCreds()).catch(failed);
    } catch (err) {
      failed(err);
    }
  });
  built.ev.on("connection.update", (u) => {
    if (u.qr && o.onQr && !pairingShown) {
      try {
        o.onQr(u.qr, built);
      } catch (err) {
        o.logger.warn({ err }, "showing the QR failed");
      }
    }
    if (u.connection === "open") {
      pairingShown = true;
      hooks.open();
    }
    if (u.connection === "close") void finish(u.lastDisconnect?.error);
  });
  try {
    o.onSocket?.(built);
  } catch (err) {
    o.logger.error({ err }, "attaching WhatsApp listeners failed");
  }
  return {
    closed,
    close: () => {
      // end() closes the WebSocket and emits connection.update "close", which calls finish().
      built.end(new Error("closed by Jaga")).catch(() => void finish(new Error("closed by Jaga")));
    },
  };
}

/** Baileys' WebSocketClient keeps the `ws` instance in a field it does not type. */
function rawSocket(sock: WASocket): WebSocket | null {
  return (sock.ws as unknown as { socket: WebSocket | null }).socket ?? null;
}

function closedOrTerminated(raw: WebSocket, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // Stuck in CLOSING: terminate destroys the TCP socket and emits 'close'.
      try {
        raw.terminate();
      } catch {
        // already gone
      }
    }, graceMs);
    raw.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    raw.on("error", () => undefined);
    if (raw.readyState === 0 || raw.readyState === 1) {
      try {
        raw.close();
      } catch {
        raw.terminate();
      }
    }
  });
}

/** Baileys closes with a Boom: `output.statusCode` and `data` (the socket error, if any). */
export function closeInfo(error: unknown): CloseInfo {
  if (!(error instanceof Error)) return { message: error === undefined ? "closed" : typeof error === "string" ? error : "closed" };
  const boom = error as Error & { output?: { statusCode?: number }; data?: { code?: unknown } | null };
  const code = boom.output?.statusCode;
  const errorCode = boom.data && typeof boom.data === "object" && typeof boom.data.code === "string" ? boom.data.code : undefined;
  return { code, errorCode, message: error.message.slice(0, 200) };
}
