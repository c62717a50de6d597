/**
 * A WhatsApp server on 127.0.0.1 that a real, paired Jaga logs in to and works with, for
 * bench/memory.ts and test/standby.session.test.ts. It speaks what Baileys 7.0.0-rc14 speaks to
 * web.whatsapp.com: the Noise XX handshake (as the responder; its certificate chain signed by a
 * root key of its own, which the Jaga process trusts through ./wa-trust-root.mjs), then
 * encrypted binary nodes. It answers the queries a linked device makes (pre-key count and
 * upload, passive, digest, pings, props, privacy, blocklist, usync devices and LIDs, group
 * metadata, key bundles, app state), acks messages as the server does (the `ack` stanza Baileys'
 * delivery tracking maps to "acked"), and plays two Signal parties with real keys
 * (./wa-peers.ts): the account's phone (device 0), which sends the first history sync, and an
 * admin who sends commands and reads Jaga's messages, its direct replies and the alert group's
 * (with the sender key Jaga distributed), and who, as a phone does, asks for a message again (a
 * retry receipt) that it cannot decrypt.
 *
 * What a test reads: every connection (`connections`: which device logged in, or that it was a
 * registration — a client without a session, i.e. a pairing), how many were open and logged in
 * at once (`stats.maxConcurrent`, `stats.maxLoggedIn`), and every message Jaga sent
 * (`messages`: its stanza id and the text as the admin decrypted it).
 *
 * Not WhatsApp: no media servers (the history sync travels inline, see
 * `initialHistBootstrapInlinePayload`; a real phone uploads all but the first chunk to
 * mmg.whatsapp.net, which the bench may not reach), app state collections come back empty, a
 * registration is refused (401) instead of getting pairing codes, and queries it does not know
 * get an empty result (counted in `stats.unknownIqs`).
 *
 * @example
 * const wa = await startWaStandin({ jaga: session, me, phone, admin, group });
 * // whatsapp.url = wa.url; JAGA_WA_STANDIN_ROOT = wa.rootKeyHex; node --import ./wa-trust-root.mjs
 * const reply = await wa.command("/status", 60_000);
 * await wa.close();
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import {
  Curve,
  decodeBinaryNode,
  DEFAULT_CONNECTION_CONFIG,
  encodeBigEndian,
  encodeBinaryNode,
  getAllBinaryNodeChildren,
  getBinaryNodeChild,
  getBinaryNodeChildren,
  jidDecode,
  NOISE_MODE,
  NOISE_WA_HEADER,
  proto,
  type BinaryNode,
} from "@whiskeysockets/baileys";
import { SignalParty, UploadedKeys, type PairedSession } from "./wa-peers.js";

const S_WHATSAPP_NET = "s.whatsapp.net";
const EMPTY = Buffer.alloc(0);

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();
function gcm(encrypt: boolean, data: Uint8Array, key: Uint8Array, iv: Uint8Array, aad: Uint8Array): Buffer {
  if (encrypt) {
    const c = createCipheriv("aes-256-gcm", key, iv);
    c.setAAD(aad);
    return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  }
  const d = createDecipheriv("aes-256-gcm", key, iv);
  d.setAAD(aad);
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
}
const ivOf = (counter: number) => {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(counter, 8);
  return iv;
};

/** The server's half of Baileys' noise-handler.ts: the same hash, key mixing and counters. */
class NoiseResponder {
  private hash: Buffer;
  private salt: Buffer;
  private key: Buffer;
  private counter = 0;
  private transport?: { enc: Buffer; dec: Buffer; read: number; write: number };

  constructor() {
    const mode = Buffer.from(NOISE_MODE);
    this.hash = mode.length === 32 ? mode : sha256(mode);
    this.salt = this.hash;
    this.key = this.hash;
    this.authenticate(NOISE_WA_HEADER);
  }

  authenticate(data: Uint8Array): void {
    if (!this.transport) this.hash = sha256(Buffer.concat([this.hash, data]));
  }

  mix(dh: Uint8Array): void {
    const k = Buffer.from(hkdfSync("sha256", dh, this.salt, EMPTY, 64));
    this.salt = k.subarray(0, 32);
    this.key = k.subarray(32);
    this.counter = 0;
  }

  encrypt(plain: Uint8Array): Buffer {
    if (this.transport) return gcm(true, plain, this.transport.enc, ivOf(this.transport.write++), EMPTY);
    const out = gcm(true, plain, this.key, ivOf(this.counter++), this.hash);
    this.authenticate(out);
    return out;
  }

  decrypt(cipher: Uint8Array): Buffer {
    if (this.transport) return gcm(false, cipher, this.transport.dec, ivOf(this.transport.read++), EMPTY);
    const out = gcm(false, cipher, this.key, ivOf(this.counter++), this.hash);
    this.authenticate(cipher);
    return out;
  }

  /** The client encrypts with the first half and decrypts with the second; the server the other way round. */
  finish(): void {
    const k = Buffer.from(hkdfSync("sha256", EMPTY, this.salt, EMPTY, 64));
    this.transport = { enc: k.subarray(32), dec: k.subarray(0, 32), read: 0, write: 0 };
  }
}

export interface WaStandinOptions {
  /** Jaga's paired session as written into its store (bench/wa-peers.ts writePairedSession). */
  jaga: PairedSession;
  /** The account Jaga is linked to: phone number and LID user parts. */
  me: { pn: string; lid: string };
  /** The phone (device 0 of the account); its identity signed Jaga's `account`. */
  phone: SignalParty;
  /** A configured admin who sends commands. */
  admin: SignalParty;
  /** The alert group: Jaga, the admin and the phone's account are members. */
  group: { jid: string; subject: string };
  /** Sent right after login, before the offline marker: the first history sync. */
  history?: proto.Message.IHistorySyncNotification[];
}

export interface WaStandinStats {
  connections: number;
  /** Logins of a paired device (see `connections` for which one). */
  logins: number;
  /** Clients that came without a session: a registration, i.e. a pairing (refused here). */
  registrations: number;
  /** The most sockets open at the same time. */
  maxConcurrent: number;
  /** The most sockets logged in at the same time. */
  maxLoggedIn: number;
  /** Queries answered, by `xmlns type child`. */
  iqs: Map<string, number>;
  /** Queries it did not know (answered with an empty result). */
  unknownIqs: Map<string, number>;
  historySent: number;
  /** Receipts of type `hist_sync`: Jaga has read a history notification. */
  historyReceipts: number;
  /** Messages Jaga sent, and the ones addressed to the admin it could decrypt. */
  messagesFromJaga: number;
  /** Retry receipts from Jaga: a message it could not decrypt (a `Bad MAC`, a missing session). */
  retryReceipts: number;
  /** Retry receipts the admin sent Jaga, as a phone does for a message it could not decrypt. */
  adminRetries: number;
  pings: number;
}

/** One WebSocket from Jaga. */
export interface WaConnection {
  /** 1, 2, … in the order they were accepted. */
  n: number;
  openedAt: number;
  /** When the client was gone (its FIN or the socket's close, whichever came first). */
  closedAt: number | null;
  /** The device that logged in (`<pn>:<device>@s.whatsapp.net`); null before the login, or for a registration. */
  jid: string | null;
  loggedInAt: number | null;
  /** A client without a session (a pairing). */
  registration: boolean;
}

/** A message stanza Jaga sent. */
export interface WaMessage {
  /** The stanza's `id`: the WhatsApp message id (Jaga's are stable per outbox row). */
  id: string;
  /** Its chat: the alert group, the admin, the phone (peer messages). */
  to: string;
  /** Which connection (`WaConnection.n`) carried it. */
  connection: number;
  at: number;
  /** As the admin reads it: its pairwise copy, or the group's sender-key copy; null when the admin got none. */
  text: string | null;
  /** The message it replies to (`contextInfo.stanzaId`). */
  quoted: string | null;
  /** The admin could not decrypt its copy (and asked Jaga to send it again, as a phone does). */
  error: string | null;
  /** Its encrypted copies: to whom (a device, or the group for the sender-key copy), of which type. */
  copies: { to: string; type: string }[];
}

export interface WaStandin {
  readonly url: string;
  readonly port: number;
  readonly rootKeyHex: string;
  readonly stats: WaStandinStats;
  readonly connections: readonly WaConnection[];
  readonly messages: readonly WaMessage[];
  /** Sockets open right now. */
  readonly open: number;
  /** Resolves when Jaga's socket has logged in and been told the offline queue is empty. */
  online(ms: number): Promise<void>;
  /** True while a socket is logged in and past the offline marker (commands reach Jaga). */
  readonly isOnline: boolean;
  /**
   * New connections wait, their handshake unanswered, until `release()`: WhatsApp slow to let a
   * device in, so what Jaga queues meanwhile waits in its outbox.
   */
  hold(): void;
  release(): void;
  /** The admin sends `text` to Jaga; resolves with Jaga's reply as the admin decrypts it (null after `ms`). */
  command(text: string, ms: number): Promise<string | null>;
  close(): Promise<void>;
}

export async function startWaStandin(o: WaStandinOptions): Promise<WaStandin> {
  const root = Curve.generateKeyPair();
  const intermediate = Curve.generateKeyPair();
  const serverStatic = Curve.generateKeyPair();
  const details = (key: Uint8Array, serial: number) =>
    proto.CertChain.NoiseCertificate.Details.encode({ serial, issuerSerial: 0, key, notBefore: 0, notAfter: 4_102_444_800 }).finish();
  const intermediateDetails = details(intermediate.public, 1);
  const leafDetails = details(serverStatic.public, 2);
  const certChain = proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(root.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) },
  }).finish();

  const meDevice = jidDecode(o.jaga.deviceJid)!.device ?? 0;
  const jagaPn = o.jaga.deviceJid;
  const jagaLid = `${o.me.lid}:${meDevice}@lid`;
  let keys: UploadedKeys | undefined = o.jaga.keys;
  const stats: WaStandinStats = {
    connections: 0,
    logins: 0,
    registrations: 0,
    maxConcurrent: 0,
    maxLoggedIn: 0,
    iqs: new Map(),
    unknownIqs: new Map(),
    historySent: 0,
    historyReceipts: 0,
    messagesFromJaga: 0,
    retryReceipts: 0,
    adminRetries: 0,
    pings: 0,
  };
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const connections: WaConnection[] = [];
  const messages: WaMessage[] = [];
  const live = new Set<Connection>();
  /** The connection commands go to: the newest one that is open and online. */
  const current = () => [...live].filter((c) => c.online).at(-1);
  const onlineWaiters: (() => void)[] = [];
  let held: { promise: Promise<void>; release: () => void } | undefined;
  const replyWaiters = new Map<string, (text: string) => void>();
  /** Retry receipts the admin sent, per message id. */
  const retries = new Map<string, number>();
  let seq = 0;
  const id = () => `BENCH${(++seq).toString(16).toUpperCase().padStart(12, "0")}`;
  const now = () => String(Math.floor(Date.now() / 1000));
  /** Which party a user part (phone number or LID) is. */
  const partyOf = (user: string | undefined) =>
    user === o.admin.pn || user === o.admin.lid ? o.admin : user === o.me.pn || user === o.me.lid ? o.phone : undefined;
  /** Sessions the parties have to Jaga's device. */
  const toJaga = new Set<SignalParty>();

  class Connection {
    private noise = new NoiseResponder();
    private stage: "hello" | "finish" | "open" = "hello";
    private buf = EMPTY;
    private introSeen = false;
    private ephemeral = Curve.generateKeyPair();
    /** Frames are handled in order, after a hold that was on when the socket came. */
    private chain: Promise<void>;
    online = false;

    constructor(
      readonly ws: WebSocket,
      readonly record: WaConnection,
    ) {
      this.chain = held?.promise ?? Promise.resolve();
      ws.on("message", (data: Buffer) => {
        this.chain = this.chain.then(() => this.onData(data)).catch((err: unknown) => {
          process.stderr.write(`wa-standin: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
          ws.terminate();
        });
      });
    }

    private async onData(data: Buffer): Promise<void> {
      this.buf = Buffer.concat([this.buf, data]);
      if (!this.introSeen) {
        if (this.buf.length < 4) return;
        // "ED" + routing info comes first when the server once sent edge routing; never here.
        if (this.buf.subarray(0, 4).equals(NOISE_WA_HEADER)) this.buf = this.buf.subarray(4);
        else throw new Error("no WA intro header");
        this.introSeen = true;
      }
      while (this.buf.length >= 3) {
        const size = (this.buf[0]! << 16) | (this.buf[1]! << 8) | this.buf[2]!;
        if (this.buf.length < size + 3) return;
        const frame = this.buf.subarray(3, size + 3);
        this.buf = this.buf.subarray(size + 3);
        await this.onFrame(frame);
      }
    }

    private sendFrame(data: Uint8Array): void {
      const frame = Buffer.alloc(3 + data.length);
      frame.writeUIntBE(data.length, 0, 3);
      frame.set(data, 3);
      if (this.ws.readyState === 1) this.ws.send(frame);
    }

    send(node: BinaryNode): void {
      this.sendFrame(this.noise.encrypt(encodeBinaryNode(node)));
    }

    private async onFrame(frame: Buffer): Promise<void> {
      if (this.stage === "hello") {
        const hello = proto.HandshakeMessage.decode(frame).clientHello!;
        const e = this.ephemeral;
        this.noise.authenticate(hello.ephemeral!);
        this.noise.authenticate(e.public);
        this.noise.mix(Curve.sharedKey(e.private, hello.ephemeral!));
        const encStatic = this.noise.encrypt(serverStatic.public);
        this.noise.mix(Curve.sharedKey(serverStatic.private, hello.ephemeral!));
        const payload = this.noise.encrypt(certChain);
        this.sendFrame(proto.HandshakeMessage.encode({ serverHello: { ephemeral: e.public, static: encStatic, payload } }).finish());
        this.stage = "finish";
        return;
      }
      if (this.stage === "finish") {
        const finish = proto.HandshakeMessage.decode(frame).clientFinish!;
        const noiseKey = this.noise.decrypt(finish.static!);
        this.noise.mix(Curve.sharedKey(this.ephemeral.private, noiseKey));
        const login = proto.ClientPayload.decode(this.noise.decrypt(finish.payload!));
        this.noise.finish();
        this.stage = "open";
        if (!login.username) {
          // A registration: a client without a session asks to be paired. Never expected of a
          // paired Jaga, so counted, and refused (no pairing codes here).
          stats.registrations++;
          this.record.registration = true;
          this.send({ tag: "failure", attrs: { reason: "401", location: "bench" } });
          return;
        }
        if (String(login.username) !== o.me.pn) {
          // Another account: this stand-in only logs in the paired device.
          this.send({ tag: "failure", attrs: { reason: "401", location: "bench" } });
          return;
        }
        stats.logins++;
        this.record.jid = `${String(login.username)}:${login.device ?? 0}@${S_WHATSAPP_NET}`;
        this.record.loggedInAt = Date.now();
        const loggedIn = connections.filter((c) => c.jid !== null && c.closedAt === null).length;
        stats.maxLoggedIn = Math.max(stats.maxLoggedIn, loggedIn);
        this.send({ tag: "success", attrs: { t: now(), props: "1", abprops: "1", location: "bench", lid: jagaLid, creation: "1700000000" } });
        return;
      }
      await this.onNode(await decodeBinaryNode(this.noise.decrypt(frame)));
    }

    private result(iq: BinaryNode, content?: BinaryNode[], from = S_WHATSAPP_NET): void {
      this.send({ tag: "iq", attrs: { from, type: "result", id: iq.attrs.id! }, ...(content ? { content } : {}) });
    }

    private async onNode(node: BinaryNode): Promise<void> {
      if (node.tag === "iq") return this.onIq(node);
      if (node.tag === "message") return this.onMessage(node);
      if (node.tag === "receipt" && node.attrs.type === "hist_sync") stats.historyReceipts++;
      if (node.tag === "receipt" && node.attrs.type === "retry") stats.retryReceipts++;
      // Receipts, acks, presence, ib telemetry: nothing to answer.
    }

    private async onIq(iq: BinaryNode): Promise<void> {
      const first = getAllBinaryNodeChildren(iq)[0];
      const what = `${iq.attrs.xmlns} ${iq.attrs.type} ${first?.tag ?? "-"}`;
      count(stats.iqs, what);
      switch (what) {
        case "encrypt get count":
          return this.result(iq, [{ tag: "count", attrs: { value: String(keys?.remaining ?? 0) } }]);
        case "encrypt set registration":
          keys = UploadedKeys.fromUpload(iq);
          this.result(iq);
          return;
        case "encrypt get digest":
          return this.result(iq, [{ tag: "digest", attrs: {} }]);
        case "encrypt get key":
          return this.result(iq, [{ tag: "list", attrs: {}, content: getBinaryNodeChildren(first, "user").map((u) => this.bundleFor(u.attrs.jid!)) }]);
        case "passive set active":
          this.result(iq);
          // Logged in and active: the offline queue (the first history sync, right after pairing), then its end.
          if (o.history && stats.historySent === 0) await this.sendHistory(o.history);
          this.send({ tag: "ib", attrs: { from: S_WHATSAPP_NET }, content: [{ tag: "offline", attrs: { count: String(stats.historySent) } }] });
          if (live.has(this)) {
            this.online = true;
            onlineWaiters.splice(0).forEach((f) => f());
          }
          return;
        case "w:p get ping":
          stats.pings++;
          return this.result(iq);
        case "abt get props":
          return this.result(iq, [{ tag: "props", attrs: { protocol: "1", hash: "bench" }, content: [] }]);
        case "privacy get privacy":
          return this.result(iq, [
            { tag: "privacy", attrs: {}, content: ["last", "online", "profile", "status", "readreceipts", "groupadd"].map((name) => ({ tag: "category", attrs: { name, value: "all" } })) },
          ]);
        case "blocklist get -":
          return this.result(iq, [{ tag: "list", attrs: {} }]);
        case "usync get usync":
          return this.result(iq, [this.usync(first!)]);
        case "w:g2 get query":
          return this.result(iq, [this.groupNode()], iq.attrs.to);
        case "w:sync:app:state set sync":
          return this.result(iq, [
            { tag: "sync", attrs: {}, content: getBinaryNodeChildren(first, "collection").map((c) => ({ tag: "collection", attrs: { name: c.attrs.name!, version: c.attrs.version ?? "0" } })) },
          ]);
        default:
          count(stats.unknownIqs, what);
          return this.result(iq);
      }
    }

    /** The history sync as the phone sends it: peer messages from device 0, Signal-encrypted to Jaga's device. */
    private async sendHistory(chunks: proto.Message.IHistorySyncNotification[]): Promise<void> {
      for (const h of chunks) {
        const enc = await encryptTo(o.phone, { protocolMessage: { type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION, historySyncNotification: h } });
        this.send({
          tag: "message",
          attrs: { from: `${o.me.pn}@${S_WHATSAPP_NET}`, id: id(), t: now(), type: "text", category: "peer", offline: "0" },
          content: [{ tag: "enc", attrs: { v: "2", type: enc.type }, content: enc.ciphertext }],
        });
        stats.historySent++;
      }
    }

    private bundleFor(jid: string): BinaryNode {
      const d = jidDecode(jid);
      const party = partyOf(d?.user);
      if (party && (d?.device ?? 0) === 0) return party.bundleNode(jid);
      return { tag: "user", attrs: { jid }, content: [{ tag: "error", attrs: { code: "404", text: "item-not-found" } }] };
    }

    /** Devices and LIDs: the admin has its phone, the account its phone and Jaga. */
    private usync(q: BinaryNode): BinaryNode {
      const query = getBinaryNodeChild(q, "query");
      const protocols = query ? getAllBinaryNodeChildren(query).map((p) => p.tag) : [];
      const users = getBinaryNodeChildren(getBinaryNodeChild(q, "list"), "user").map((u) => {
        const jid = u.attrs.jid ?? "";
        const d = jidDecode(jid);
        const party = partyOf(d?.user);
        const content: BinaryNode[] = [];
        for (const p of protocols) {
          if (p === "devices") {
            const devices: BinaryNode[] = [{ tag: "device", attrs: { id: "0" } }];
            if (party === o.phone) devices.push({ tag: "device", attrs: { id: String(meDevice), "key-index": "1" } });
            content.push({ tag: "devices", attrs: {}, content: [{ tag: "device-list", attrs: {}, content: party ? devices : [] }] });
          } else if (p === "lid" && party && d?.server === S_WHATSAPP_NET) {
            content.push({ tag: "lid", attrs: { val: `${party.lid}@lid` } });
          }
        }
        return { tag: "user", attrs: { jid }, content };
      });
      return { tag: "usync", attrs: { ...q.attrs }, content: [{ tag: "result", attrs: {} }, { tag: "list", attrs: {}, content: users }] };
    }

    private groupNode(): BinaryNode {
      const user = o.group.jid.split("@")[0]!;
      return {
        tag: "group",
        attrs: { id: user, subject: o.group.subject, s_t: "1700000000", s_o: `${o.admin.pn}@${S_WHATSAPP_NET}`, creation: "1700000000", creator: `${o.admin.pn}@${S_WHATSAPP_NET}`, addressing_mode: "pn" },
        content: [
          { tag: "participant", attrs: { jid: `${o.admin.pn}@${S_WHATSAPP_NET}`, type: "superadmin" } },
          { tag: "participant", attrs: { jid: `${o.me.pn}@${S_WHATSAPP_NET}`, type: "admin" } },
        ],
      };
    }

    /**
     * A message from Jaga: acked as the server does, then read as the admin reads it — its
     * pairwise copy (a direct message, or the sender key a group message distributes), then a
     * group message's sender-key copy.
     */
    private async onMessage(m: BinaryNode): Promise<void> {
      stats.messagesFromJaga++;
      const record: WaMessage = { id: m.attrs.id!, to: m.attrs.to!, connection: this.record.n, at: Date.now(), text: null, quoted: null, error: null, copies: [] };
      messages.push(record);
      this.send({ tag: "ack", attrs: { class: "message", id: m.attrs.id!, from: m.attrs.to!, t: now() } });
      const direct = getBinaryNodeChildren(m, "enc").map((enc) => ({ to: m.attrs.to!, enc }));
      const fanned = getBinaryNodeChildren(getBinaryNodeChild(m, "participants"), "to").flatMap((t) => getBinaryNodeChildren(t, "enc").map((enc) => ({ to: t.attrs.jid!, enc })));
      record.copies = [...direct, ...fanned].map(({ to, enc }) => ({ to, type: enc.attrs.type ?? "?" }));
      const read = (msg: proto.IMessage) => {
        const text = msg.extendedTextMessage?.text ?? msg.conversation;
        if (text) {
          record.text = text;
          record.quoted = msg.extendedTextMessage?.contextInfo?.stanzaId ?? null;
        }
      };
      try {
        for (const { to, enc } of [...direct, ...fanned]) {
          const d = jidDecode(to);
          if (partyOf(d?.user) !== o.admin || (d?.device ?? 0) !== 0) continue;
          const type = enc.attrs.type;
          if ((type !== "msg" && type !== "pkmsg") || !(enc.content instanceof Uint8Array)) continue;
          const msg = await o.admin.decrypt(jagaPn, type, enc.content);
          if (msg.senderKeyDistributionMessage) await o.admin.acceptSenderKey(jagaPn, msg.senderKeyDistributionMessage);
          read(msg);
        }
        const group = direct.find(({ enc }) => enc.attrs.type === "skmsg" && enc.content instanceof Uint8Array);
        if (group && m.attrs.to === o.group.jid) read(await o.admin.decryptGroup(o.group.jid, jagaPn, group.enc.content as Uint8Array));
      } catch (err) {
        record.error = err instanceof Error ? err.message : String(err);
        this.askAgain(m);
        return;
      }
      if (record.text && record.quoted) replyWaiters.get(record.quoted)?.(record.text);
    }

    /**
     * What a phone does with a message it cannot decrypt: a retry receipt (its registration id,
     * the try count), on which Baileys sends the message again under the same id with a fresh
     * session. A few tries per message at most, as WhatsApp's clients.
     */
    private askAgain(m: BinaryNode): void {
      const id = m.attrs.id!;
      const count = (retries.get(id) ?? 0) + 1;
      if (count > 3) return;
      retries.set(id, count);
      stats.adminRetries++;
      const adminJid = `${o.admin.pn}@${S_WHATSAPP_NET}`;
      const inGroup = m.attrs.to === o.group.jid;
      this.send({
        tag: "receipt",
        attrs: { id, from: inGroup ? o.group.jid : adminJid, ...(inGroup ? { participant: adminJid } : {}), type: "retry", t: now() },
        content: [
          { tag: "retry", attrs: { count: String(count), id, t: now(), v: "1" } },
          { tag: "registration", attrs: {}, content: encodeBigEndian(o.admin.creds.registrationId) },
        ],
      });
    }
  }

  /** Encrypts from a party to Jaga's device, starting the session from Jaga's uploaded keys the first time. */
  async function encryptTo(party: SignalParty, message: proto.IMessage) {
    if (!toJaga.has(party)) {
      if (!keys) throw new Error("Jaga has uploaded no keys yet");
      await party.startSession(jagaPn, keys.take(jagaPn));
      toJaga.add(party);
    }
    return party.encrypt(jagaPn, message);
  }

  const http: Server = createServer((req, res) => {
    // Jaga reads the WA Web version from the service worker next to the socket.
    if (req.url === "/sw.js") {
      const [, , rev] = DEFAULT_CONNECTION_CONFIG.version;
      res.end(`self.__swData=JSON.parse(/*BTDS*/"{\\"dynamic_data\\":{\\"SiteData\\":{\\"client_revision\\":${rev}}}}");`);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  const sockets = new Set<Socket>();
  http.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server: http, path: "/ws/chat" });
  wss.on("connection", (ws, req) => {
    stats.connections++;
    const record: WaConnection = { n: stats.connections, openedAt: Date.now(), closedAt: null, jid: null, loggedInAt: null, registration: false };
    connections.push(record);
    const conn = new Connection(ws, record);
    live.add(conn);
    stats.maxConcurrent = Math.max(stats.maxConcurrent, live.size);
    // Gone at the client's FIN: the socket's 'close' can come a tick after the next connection
    // is accepted, which would count one closed socket as still open.
    const gone = () => {
      if (!live.delete(conn)) return;
      record.closedAt = Date.now();
      conn.online = false;
    };
    req.socket.once("end", gone);
    ws.on("close", gone);
    ws.on("error", () => undefined);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { port } = http.address() as { port: number };

  return {
    url: `ws://127.0.0.1:${port}/ws/chat`,
    port,
    rootKeyHex: Buffer.from(root.public).toString("hex"),
    stats,
    connections,
    messages,
    get open() {
      return live.size;
    },
    get isOnline() {
      return current() !== undefined;
    },
    hold: () => {
      if (held) return;
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      held = { promise, release };
    },
    release: () => {
      held?.release();
      held = undefined;
    },
    online: (ms) =>
      new Promise((resolve, reject) => {
        if (current()) return resolve();
        const timer = setTimeout(() => reject(new Error(`Jaga did not log in to the stand-in within ${ms} ms`)), ms);
        onlineWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
    command: async (text, ms) => {
      const conn = current();
      if (!conn) return null;
      const msgId = id();
      const got = new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => {
          replyWaiters.delete(msgId);
          resolve(null);
        }, ms);
        replyWaiters.set(msgId, (t) => {
          clearTimeout(timer);
          replyWaiters.delete(msgId);
          resolve(t);
        });
      });
      const enc = await encryptTo(o.admin, { conversation: text });
      conn.send({
        tag: "message",
        attrs: { from: `${o.admin.pn}@${S_WHATSAPP_NET}`, id: msgId, t: now(), type: "text", notify: "Admin" },
        content: [{ tag: "enc", attrs: { v: "2", type: enc.type }, content: enc.ciphertext }],
      });
      return got;
    },
    close: async () => {
      held?.release();
      for (const c of wss.clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
