/**
 * The WhatsApp transport: Baileys sockets owned by the {@link Reconnector}, auth state in
 * SQLite, commands accepted only from people in the config, in direct chats and the alert
 * group. Replies quote the command; a command running longer than 2 s gets ⏳, then ✅ or ❌.
 *
 * `send()` rejects while disconnected, so the outbox keeps the message and the pump retries it
 * after reconnecting; `sendOnce()` gives each outbox row a stable WhatsApp message id, so a
 * message re-sent after a crash between "sent" and "marked sent" is the same message, not a
 * second one.
 *
 * @example
 * const wa = new WhatsAppTransport({ url, resolvers, kv: store.waAuth, clock, log, ... });
 * await wa.start(async (m) => { const r = await pipeline.handle(m); if (r) await wa.reply(m, r); });
 */
import { createHash, randomBytes } from "node:crypto";
import type { Writable } from "node:stream";
import type { WAMessage, WAMessageKey, WASocket } from "@whiskeysockets/baileys";
import { BufferJSON, isLidUser, isPnUser, jidDecode, proto } from "./lib.js";
import type { Clock } from "../../clock.js";
import type { Route } from "../../dns/lookup.js";
import { probeName } from "../../dns/probe.js";
import { resolveWith } from "../../dns/resolve.js";
import type { ResolverSpec } from "../../dns/resolvers.js";
import type { Translate } from "../../i18n/index.js";
import type { Logger } from "../../log.js";
import { groupLine, type WhatsAppControl } from "../../reconnect/control.js";
import { Reconnector, type ReconnectorOptions } from "../../reconnect/reconnector.js";
import { haltText } from "../../reconnect/decide.js";
import type { WaAuthKv } from "../../store/sqlite/wa-auth.js";
import type { InboundLedger } from "../../store/sqlite/wa-inbound.js";
import type { SentMessages } from "../../store/sqlite/wa-sent.js";
import type { OutboxStats } from "../../store/store.js";
import { baileysCaches } from "./caches.js";
import { baileysLogger } from "./log.js";
import { AlertGroupCache, idsOf, type GroupReport } from "./group.js";
import { formatDuration } from "../../duration.js";
import { redact } from "../../text.js";
import { DEFAULT_ALERT_CHAT, SendError, type IncomingMessage, type MessageHandler, type Thread, type Transport } from "../transport.js";
import { isPermanent, watchDelivery, type DeliveryEvent } from "./delivery.js";
import { sqliteAuthState } from "./auth-state.js";
import { ignoreJid, interpretMessage, lateBy, type IgnoreReason } from "./inbound.js";
import { makePairing } from "./pairing.js";
import { openBaileysSocket } from "./socket.js";
import { versionUrlOf, WaVersion } from "./version.js";

export interface WhatsAppTransportOptions {
  url: string;
  connectTimeoutMs: number;
  resolvers: readonly ResolverSpec[];
  backoff: ReconnectorOptions["backoff"];
  breaker: ReconnectorOptions["breaker"];
  dns: ReconnectorOptions["dns"] & { timeoutMs: number };
  kv: WaAuthKv;
  clock: Clock;
  log: Logger;
  t: Translate;
  /** The alert group's jid; other groups are ignored. */
  alertGroup?: string;
  /** Phone numbers that receive alerts when no alert group is configured (the admins). */
  alertFallback: readonly string[];
  isKnown(phone: string): boolean;
  /** Outbox backlog, for /health and /wa. */
  backlog(): Promise<number>;
  /** The outbox's delivery counts, for /wa, /health and /metrics. */
  delivery?: () => Promise<OutboxStats>;
  /** Where the QR or the pairing code is shown; none: pairing only through logs. */
  output?: Writable;
  pairPhone?: string;
  /** A reply that cannot go out now is handed here to be kept durably (the outbox). */
  keepReply?: (chatId: string, text: string, dedupeKey: string) => Promise<void>;
  reactAfterMs?: number;
  /** Messages already taken, across restarts: a redelivered message never runs twice. */
  inbound?: InboundLedger;
  /** A command older than this is not run; its sender is told (whatsapp.maxCommandAge). */
  maxCommandAgeMs?: number;
  /** What was sent, kept for retry requests (getMessage). */
  sent?: SentMessages;
  /** The configured admins: /wa and the start-up line say which of them are in the alert group. */
  admins?: readonly { name: string; phone: string }[];
  /** ⏳/✅/❌ reactions in the alert group too (default off: every reaction is a message to the group). */
  reactInGroups?: boolean;
  /** The configured people's phone numbers: their LIDs are resolved when the socket opens. */
  people?: readonly string[];
  /** For "from 14:02" in the stale-command reply. */
  timezone?: string;
  keepAliveIntervalMs?: number;
  /** How long the WA Web version check may take (default 5 s). */
  versionTimeoutMs?: number;
  random?: () => number;
}

/** Replies that start like this count as a failed command (❌) for the reaction. */
const FAILURE_MARKS = ["❌", "⏱️", "🚫", "❓", "⛔"];

export class WhatsAppTransport implements Transport {
  readonly name = "whatsapp";
  /** WhatsApp does not end on its own; Jaga stops it on a signal. */
  readonly ended: Promise<void> = new Promise(() => undefined);
  readonly reconnector: Reconnector;
  readonly ignored: Record<IgnoreReason, number> = {
    history: 0,
    duplicate: 0,
    stale: 0,
    own: 0,
    status: 0,
    broadcast: 0,
    newsletter: 0,
    malformed: 0,
    "not-text": 0,
    "other-group": 0,
    "unknown-sender": 0,
  };
  readonly control: WhatsAppControl;
  readonly host: string;
  /** The WA Web version each new socket announces (refreshed daily and after a 405). */
  readonly version: WaVersion;
  /** Baileys' retry-counter and device caches, kept across sockets. */
  readonly caches = baileysCaches();
  /** The alert group's metadata (cachedGroupMetadata), when there is an alert group. */
  readonly group?: AlertGroupCache;
  private route: Route;
  private sock?: WASocket;
  private handler?: MessageHandler;
  private readonly chats = new Map<string, Promise<void>>();
  private readonly deliveryListeners: ((e: DeliveryEvent) => void)[] = [];
  private wasOpen = false;
  private downSince: number | null = null;
  private outage: { from: number; to: number } | null = null;
  private readonly recent = new Map<string, { raw: WAMessage; reply?: string; ok?: boolean }>();
  private readonly lids = new Map<string, string>();
  private salt?: string;
  private stopping = false;

  constructor(private readonly o: WhatsAppTransportOptions) {
    this.host = new URL(o.url).hostname;
    for (const [lid, phone] of safe(() => o.kv.lidMap(), new Map<string, string>())) this.lids.set(lid, phone);
    const first = o.resolvers[0] ?? { kind: "system" as const, label: "system" as const };
    const onQr = o.output ? makePairing({ output: o.output, t: o.t, log: o.log, pairPhone: o.pairPhone }) : undefined;
    const baileysLog = baileysLogger(o.log);
    this.version = new WaVersion({ url: versionUrlOf(o.url), kv: o.kv, clock: o.clock, log: o.log, timeoutMs: o.versionTimeoutMs ?? 5_000 });
    this.route = { resolver: first, hostname: this.host };
    if (o.alertGroup) this.group = new AlertGroupCache({ jid: o.alertGroup, clock: o.clock, log: o.log });
    this.reconnector = new Reconnector({
      clock: o.clock,
      route: this.route,
      refreshVersion: () => this.version.refresh(this.route),
      backoff: o.backoff,
      breaker: o.breaker,
      dns: o.dns,
      random: o.random,
      probe: () => probeName(o.resolvers, this.host, o.dns.timeoutMs),
      probeSystem: async () => (await resolveWith({ kind: "system", label: "system" }, this.host, o.dns.timeoutMs)).ok,
      connect: (route, hooks) => {
        this.route = route;
        // Checked at start and then once a day, in the background: the socket being opened
        // uses the last good version; a 405 waits for a fresh one (refreshVersion above).
        if (this.version.stale()) void this.version.refresh(route);
        return openBaileysSocket(
          route,
          {
            open: () => {
              hooks.open();
            },
          },
          {
            url: o.url,
            connectTimeoutMs: o.connectTimeoutMs,
            // Read per socket: after a logout the next socket pairs with fresh credentials.
            auth: sqliteAuthState(o.kv),
            logger: baileysLog,
            keepAliveIntervalMs: o.keepAliveIntervalMs,
            shouldIgnoreJid: (jid) => ignoreJid(jid, o.alertGroup),
            onQr,
            onSocket: (sock) => this.attach(sock),
            version: this.version.current(),
            getMessage: (key) => this.getMessage(key),
            cachedGroupMetadata: (jid) => this.group?.cached(jid) ?? Promise.resolve(undefined),
            caches: this.caches,
          },
        );
      },
    });
    this.reconnector.onChange((e) => this.onEvent(e));
    this.control = {
      status: () => this.reconnector.status(),
      reconnectNow: () => this.reconnector.reconnectNow(),
      resetBreaker: () => this.reconnector.resetBreaker(),
      backlog: () => o.backlog(),
      delivery: o.delivery,
      ignored: () => ({ ...this.ignored }),
      alertGroup: () => this.groupReport(),
      host: this.host,
    };
  }

  start(handler: MessageHandler): Promise<void> {
    this.handler = handler;
    this.reconnector.start();
    return Promise.resolve();
  }

  get connected(): boolean {
    return this.reconnector.connected && this.sock !== undefined;
  }

  /**
   * The event path for `messages.upsert`: every live message goes through here (tests feed
   * real proto.WebMessageInfo objects in). Accepted commands are handled one chat at a time.
   */
  handleUpsert(upsert: { messages: WAMessage[]; type: string }, retried = false): void {
    const type = upsert.type;
    for (const raw of upsert.messages ?? []) {
      let verdict;
      try {
        verdict = interpretMessage(raw, upsert.type, { alertGroup: this.o.alertGroup, isKnown: (p) => this.o.isKnown(p), lids: this.lids });
      } catch (err) {
        this.o.log.warn({ err }, "unreadable WhatsApp message ignored");
        this.ignored.malformed++;
        continue;
      }
      if (!verdict.accept) {
        // A LID Jaga has not mapped: Baileys may know it (its own LID store); ask, then read
        // the message again. A configured admin is never dropped just for arriving as a LID.
        const lid = verdict.unresolvedLid;
        const mapping = this.sock?.signalRepository?.lidMapping;
        if (lid && mapping && !retried) {
          this.inChat(raw.key?.remoteJid ?? lid, async () => {
            const pn = await mapping.getPNForLID(lid).catch(() => null);
            if (pn && this.learnLid(lid, pn)) this.handleUpsert({ messages: [raw], type }, true);
            else this.ignored["unknown-sender"]++;
          });
          continue;
        }
        this.ignored[verdict.reason]++;
        continue;
      }
      if (verdict.lid) this.learnLid(`${verdict.lid.lid}@lid`, `${verdict.lid.phone}@s.whatsapp.net`);
      const message = verdict.message;
      const now = this.o.clock.now();
      // Exactly once: a redelivery (decrypt retry, offline replay, placeholder resend) of a
      // message already taken is dropped before anything runs. If the ledger cannot be written
      // (disk full) the in-memory window still catches in-process repeats.
      const first = !this.recent.has(message.id) && safe(() => this.o.inbound?.first(message.chatId, message.id, now) ?? true, true);
      if (!first) {
        this.ignored.duplicate++;
        continue;
      }
      this.remember(message.id, raw);
      const late = lateBy(message.at, now, this.o.maxCommandAgeMs ?? DEFAULT_MAX_COMMAND_AGE_MS);
      if (late !== null) {
        this.ignored.stale++;
        // Never run an old /restart; say so, so the sender is not left waiting.
        if (/^\s*[/!]/.test(message.text)) this.inChat(message.chatId, () => this.refuseStale(message, late));
        continue;
      }
      this.inChat(message.chatId, () => this.run(message, raw));
    }
  }

  /** Runs `work` after everything already queued for the chat: one chat's messages in order. */
  private inChat(chatId: string, work: () => Promise<void>): void {
    const previous = this.chats.get(chatId) ?? Promise.resolve();
    const next = previous.then(work).catch(() => undefined);
    this.chats.set(chatId, next);
    void next.then(() => {
      if (this.chats.get(chatId) === next) this.chats.delete(chatId);
    });
  }

  private async refuseStale(message: IncomingMessage, ageMs: number): Promise<void> {
    const command = redact(message.text.trim().split("\n")[0]!.replace(/`/g, "").slice(0, 60));
    const text = this.o.t("wa.stale_command", { command, time: clockTime(message.at, ageMs, this.o.timezone), age: formatDuration(ageMs) });
    this.o.log.info({ chat: message.chatId, ageMs }, "stale WhatsApp command not run");
    await this.reply(message, text, false).catch((err: unknown) => this.o.log.warn({ err }, "stale-command reply not sent"));
  }

  async reply(to: IncomingMessage, text: string, ok?: boolean): Promise<void> {
    const entry = this.recent.get(to.id);
    if (entry) {
      entry.reply = text;
      entry.ok = ok;
    }
    const sock = this.sock;
    try {
      if (!sock || !this.connected) throw new Error("WhatsApp not connected");
      // A reaction is not quoted (WhatsApp shows no quote of one).
      this.keepSent(await sock.sendMessage(to.chatId, { text }, entry && !to.reaction ? { quoted: entry.raw } : {}));
    } catch (err) {
      // Not lost: the reply goes to the outbox and out after reconnecting (without the quote).
      this.o.log.warn({ err, chat: to.chatId }, "reply could not be sent now; kept in the outbox");
      if (!this.o.keepReply) throw err;
      await this.o.keepReply(to.chatId, text, `reply:${to.id}`);
    }
  }

  async send(chatId: string, text: string): Promise<void> {
    await this.deliver(chatId, text);
  }

  /**
   * Sends with a WhatsApp message id derived from `key`: the same key is the same message, so a
   * re-send (no ack in time, a crash) is dropped by the receiver as a copy. Resolves with the
   * ids used, whose acks and receipts come back through {@link onDelivery}.
   */
  sendOnce(chatId: string, text: string, key: string, thread?: Thread): Promise<string[]> {
    return this.deliver(chatId, text, key, thread);
  }

  /** WhatsApp reports what happened to a message after it was written (acks, receipts, errors). */
  readonly confirmsDelivery = true;

  /** Subscribes to acks, receipts and error acks of sent messages. */
  onDelivery(listener: (e: DeliveryEvent) => void): void {
    this.deliveryListeners.push(listener);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.reconnector.stop();
    await Promise.allSettled([...this.chats.values()]);
    for (const cache of Object.values(this.caches)) cache.flushAll();
    this.group?.stop();
  }

  private async deliver(chatId: string, text: string, key?: string, thread?: Thread): Promise<string[]> {
    const sock = this.sock;
    if (!sock || !this.connected) throw new SendError("WhatsApp not connected", "transport");
    const jids = this.jidsFor(chatId);
    const ids: string[] = [];
    for (const [i, jid] of jids.entries()) {
      const messageId = key ? this.messageId(`${key}#${i}`) : undefined;
      let sent: WAMessage | undefined;
      try {
        const { content, options } = this.threaded(jid, text, thread);
        sent = await sock.sendMessage(jid, content, { ...options, ...(messageId ? { messageId } : {}) });
      } catch (err) {
        throw sendErrorOf(err);
      }
      this.keepSent(sent);
      const id = sent?.key?.id ?? messageId;
      if (id) ids.push(id);
      if (id) this.emitDelivery({ msgId: id, state: "written" });
    }
    return ids;
  }

  /**
   * A message's content and options in its thread: the earlier message this chat got (found by
   * the chat each id was sent to) is edited, as Baileys' README shows (`{ text, edit: key }`),
   * or quoted (`{ quoted }`, a message built from its key and text, all Baileys reads of it). A
   * chat the earlier message never reached gets the text on its own.
   */
  private threaded(jid: string, text: string, thread?: Thread): { content: { text: string; edit?: WAMessageKey }; options: { quoted?: WAMessage } } {
    const id = thread?.ids.find((i) => this.o.sent?.chatOf(i) === jid);
    if (!thread || !id) return { content: { text }, options: {} };
    const key: WAMessageKey = { remoteJid: jid, fromMe: true, id };
    if (thread.mode === "edit") return { content: { text, edit: key }, options: {} };
    return { content: { text }, options: { quoted: { key, message: { conversation: thread.text } } } };
  }

  private emitDelivery(e: DeliveryEvent): void {
    for (const l of this.deliveryListeners) {
      try {
        l(e);
      } catch (err) {
        this.o.log.warn({ err }, "delivery listener failed");
      }
    }
  }

  private jidsFor(chatId: string): string[] {
    if (chatId === DEFAULT_ALERT_CHAT && !this.o.alertGroup) return this.o.alertFallback.map((p) => `${p}@s.whatsapp.net`);
    if (chatId.includes("@")) return [chatId];
    if (/^\d{6,15}$/.test(chatId)) return [`${chatId}@s.whatsapp.net`];
    throw new SendError(`not a WhatsApp chat: ${chatId.slice(0, 40)}`, "message", "not-whatsapp", true);
  }

  /** Looks like Baileys' own ids (3EB0…, 20 hex chars); stable per install and key. */
  private messageId(key: string): string {
    if (!this.salt) {
      const stored = safe(() => this.o.kv.get("jaga", ["message-id-salt"]).get("message-id-salt"), undefined);
      this.salt = stored ? (JSON.parse(stored) as string) : randomBytes(16).toString("hex");
      if (!stored) void Promise.resolve(safe(() => this.o.kv.set([{ kind: "jaga", id: "message-id-salt", value: JSON.stringify(this.salt) }]), undefined)).catch(() => undefined);
    }
    return `3EB0${createHash("sha256").update(`${this.salt}:${key}`).digest("hex").slice(0, 16).toUpperCase()}`;
  }

  private async run(message: IncomingMessage, raw: WAMessage): Promise<void> {
    if (!this.handler) return;
    const timer = new AbortController();
    let waiting = false;
    // In the group every reaction is one more message to everyone: off unless asked for.
    const reacts = !message.reaction && (!message.isGroup || this.o.reactInGroups === true);
    const hourglass = (reacts ? this.o.clock.sleep(this.o.reactAfterMs ?? 2_000, timer.signal) : Promise.reject(new Error("no reactions")))
      .then(async () => {
        waiting = true;
        await this.react(raw.key, "⏳");
      })
      .catch(() => undefined);
    let ok: boolean;
    try {
      await this.handler(message);
      const entry = this.recent.get(message.id);
      const reply = entry?.reply;
      // The pipeline's own verdict when given; the reply's mark for handlers that give none.
      ok = entry?.ok ?? !(reply && FAILURE_MARKS.some((m) => reply.startsWith(m)));
    } catch (err) {
      ok = false;
      this.o.log.error({ err }, "handling a WhatsApp message failed");
    } finally {
      timer.abort();
      await hourglass;
    }
    if (waiting) await this.react(raw.key, ok ? "✅" : "❌");
  }

  private async react(key: WAMessageKey, emoji: string): Promise<void> {
    try {
      if (this.sock && this.connected && key.remoteJid) this.keepSent(await this.sock.sendMessage(key.remoteJid, { react: { text: emoji, key } }));
    } catch (err) {
      this.o.log.debug({ err }, "reaction not sent");
    }
  }

  /**
   * Baileys' `getMessage`: a recipient that could not decrypt a message asks for it again;
   * the answer is the content Jaga sent, or undefined (never an empty message, which would be
   * re-sent as a blank).
   */
  getMessage(key: WAMessageKey): Promise<proto.IMessage | undefined> {
    const json = key.id ? safe(() => this.o.sent?.get(key.id!), undefined) : undefined;
    if (!json) return Promise.resolve(undefined);
    return Promise.resolve(proto.Message.fromObject(JSON.parse(json, BufferJSON.reviver) as object));
  }

  private keepSent(msg: WAMessage | undefined): void {
    if (!msg?.key?.id || !msg.message) return;
    const { id, remoteJid } = msg.key;
    safe(() => this.o.sent?.keep(id, remoteJid ?? "", this.o.clock.now(), JSON.stringify(msg.message, BufferJSON.replacer)), undefined);
  }

  private remember(id: string, raw: WAMessage): void {
    this.recent.set(id, { raw });
    // Enough to quote any reply still in flight; old ones are dropped.
    if (this.recent.size > 500) this.recent.delete(this.recent.keys().next().value!);
  }

  private attach(sock: WASocket): void {
    sock.ev.on("messages.upsert", (u) => {
      if (this.sock === sock) this.handleUpsert(u);
    });
    watchDelivery(sock, (e) => {
      if (this.sock !== sock) return;
      // Every message sent (alert, reply, reaction) keeps its state in the store.
      const state = e.state;
      if (state !== "written") safe(() => this.o.sent?.mark(e.msgId, state, e.code ?? null), undefined);
      if (e.state === "failed") this.o.log.warn({ msgId: e.msgId, code: e.code }, "WhatsApp refused a message");
      this.emitDelivery(e);
    });
    sock.ev.on("groups.update", (updates) => this.group?.changed(updates.map((g) => g.id)));
    sock.ev.on("group-participants.update", (u) => this.group?.changed([u.id]));
    sock.ev.on("lid-mapping.update", ({ lid, pn }) => {
      this.learnLid(lid, pn);
    });
    sock.ev.on("connection.update", (u) => {
      if (u.connection === "open") {
        this.sock = sock;
        void this.resolvePeopleLids(sock).then(() => this.group?.opened(sock)).then(() => this.sayWhereJagaStands());
      }
      if (u.connection === "close" && this.sock === sock) this.sock = undefined;
    });
  }

  /**
   * Remembers a LID ↔ phone pair (jids or bare user parts, either order as Baileys gives them).
   * True when it is a usable pair.
   */
  private learnLid(a: string, b: string): boolean {
    const [lidJid, pnJid] = isLidUser(a) ? [a, b] : [b, a];
    const lid = isLidUser(lidJid) ? jidDecode(lidJid)?.user : undefined;
    const phone = isPnUser(pnJid) ? jidDecode(pnJid)?.user : undefined;
    if (!lid || !phone) return false;
    if (this.lids.get(lid) !== phone) {
      this.lids.set(lid, phone);
      safe(() => this.o.kv.rememberLid(lid, phone, this.o.clock.now()), undefined);
    }
    return true;
  }

  /** Is Jaga in the alert group, may it post, which admins are members; null without a group. */
  groupReport(): GroupReport | null {
    if (!this.group) return null;
    const user = this.sock?.user;
    const me = [user?.id, user?.lid].map((j) => (j ? jidDecode(j)?.user : undefined)).filter((u): u is string => Boolean(u));
    return this.group.report(me, this.o.admins ?? [], (p) => {
      const ids = idsOf(p);
      const pn = [p.phoneNumber, p.id].find((j) => j && isPnUser(j));
      return pn ? jidDecode(pn)?.user : ids.map((id) => this.lids.get(id)).find(Boolean);
    });
  }

  private sayWhereJagaStands(): void {
    const r = this.groupReport();
    if (!r) return;
    const text = groupLine(r, this.o.t);
    if (r.canPost && r.adminsMissing.length === 0) this.o.log.info({ group: r.jid }, text);
    else this.o.log.warn({ group: r.jid }, text);
  }

  /** On open: ask WhatsApp for the LIDs of the configured people, so their first message is known. */
  private async resolvePeopleLids(sock: WASocket): Promise<void> {
    const phones = this.o.people ?? [];
    const mapping = sock.signalRepository?.lidMapping;
    if (phones.length === 0 || !mapping) return;
    try {
      const pairs = (await mapping.getLIDsForPNs(phones.map((p) => `${p}@s.whatsapp.net`))) ?? [];
      for (const { lid, pn } of pairs) this.learnLid(lid, pn);
    } catch (err) {
      this.o.log.debug({ err }, "could not resolve the configured people's LIDs");
    }
  }

  /** The last time WhatsApp was away and came back: for the "while I was offline" message. */
  lastOutage(): { from: number; to: number } | null {
    return this.outage;
  }

  private onEvent(e: Parameters<Parameters<Reconnector["onChange"]>[0]>[0]): void {
    const { log, t } = this.o;
    if (e.type === "state") {
      if (e.status.state !== "open") this.sock = undefined;
      if (e.status.state === "open" && this.downSince !== null) {
        this.outage = { from: this.downSince, to: this.o.clock.now() };
        this.downSince = null;
      } else if (e.status.state !== "open" && e.status.state !== "connecting" && this.downSince === null && this.wasOpen) {
        this.downSince = this.o.clock.now();
      }
      if (e.status.state === "open") this.wasOpen = true;
      log.info(
        { state: e.status.state, attempts: e.status.attempts, lastClose: e.status.lastClose?.code, next: e.status.nextAttemptAt },
        "whatsapp connection",
      );
    } else if (e.type === "open") {
      log.info(t("wa.connected"));
    } else if (e.type === "halt") {
      const text = haltText(e.kind, t, e.close.code);
      log.error({ code: e.close.code }, text);
      this.o.output?.write(`${text}\n`);
      // A logged-out session is worthless; forget it so the next connection pairs anew.
      if (e.kind === "logged-out") void Promise.resolve(safe(() => this.o.kv.clear(), undefined)).catch(() => undefined);
    } else if (e.type === "replaced") {
      log.warn({ count: e.count, retryAt: new Date(e.retryAt).toISOString() }, t("wa.replaced_retry", { at: clockTime(e.retryAt, 0, this.o.timezone) }));
    } else if (e.type === "bad-session") {
      log.error({ count: e.count }, t("wa.bad_session", { count: e.count }));
    } else if (e.type === "system-dns") {
      const key = e.broken ? "wa.system_dns_broken" : "wa.system_dns_ok";
      log.warn({ resolver: e.resolver }, t(key, { host: this.host, resolver: e.resolver }));
    }
  }
}



/** Closes and timeouts while sending mean "nothing goes out now"; anything else is this message's own failure. */
const CONNECTION_CODES = new Set([408, 428, 440, 500, 503, 515]);

function sendErrorOf(err: unknown): SendError {
  if (err instanceof SendError) return err;
  const boom = err as { message?: string; output?: { statusCode?: number }; data?: unknown };
  const status = boom?.output?.statusCode;
  const message = typeof boom?.message === "string" ? boom.message.slice(0, 200) : String(err);
  if (status !== undefined && CONNECTION_CODES.has(status)) return new SendError(message, "transport", String(status));
  if (/not-authorized|forbidden|not a participant/i.test(message)) return new SendError(message, "message", "not-participant", true);
  const code = status !== undefined ? String(status) : undefined;
  return new SendError(message, "message", code, isPermanent(code));
}

/** whatsapp.maxCommandAge's default: a command older than 2 minutes is not run. */
export const DEFAULT_MAX_COMMAND_AGE_MS = 120_000;

/** `14:02`, or `30/11 14:02` when it is not from today-ish, in Jaga's time zone. */
function clockTime(at: number, ageMs: number, timeZone = "Asia/Jakarta"): string {
  const parts = ageMs > 20 * 3_600_000 ? { day: "2-digit", month: "2-digit" } : {};
  return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hour12: false, ...parts } as Intl.DateTimeFormatOptions)
    .format(at)
    .replace(",", "");
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}
