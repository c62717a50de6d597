/**
 * The other ends of a WhatsApp conversation, for the loopback stand-in (./wa-standin.ts):
 * Signal parties that hold real keys and use Baileys' own Signal repository (libsignal), so
 * what they send a real Jaga decrypts as it would a phone's message, and what Jaga sends them
 * they decrypt. Also: the paired session written into a Jaga data directory before it starts,
 * and the first history sync a phone sends a newly linked device.
 *
 * @example
 * const admin = new SignalParty("6281200000001", "223456789012345");
 * await admin.startSession(JAGA_DEVICE_JID, bundle.userNode(JAGA_DEVICE_JID));
 * const { type, ciphertext } = await admin.encrypt(JAGA_DEVICE_JID, { conversation: "/status" });
 */
import { randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { pino } from "pino";
import {
  addTransactionCapability,
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  encodeBigEndian,
  encodeWAMessage,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildren,
  initAuthCreds,
  KEY_BUNDLE_TYPE,
  parseAndInjectE2ESessions,
  proto,
  unpadRandomMax16,
  type AuthenticationCreds,
  type BinaryNode,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from "@whiskeysockets/baileys";
import { sqliteAuthState } from "../../src/chat/baileys/auth-state.js";
import type { LocalWaAuth } from "../../src/store/sqlite/wa-auth.js";

const silent = pino({ level: "silent" });

/** A WhatsApp account's device with its own Signal keys, kept in memory. */
export class SignalParty {
  readonly creds: AuthenticationCreds = initAuthCreds();
  readonly repo: ReturnType<typeof DEFAULT_CONNECTION_CONFIG.makeSignalRepository>;
  private readonly data = new Map<string, unknown>();
  private nextPreKeyId = 1;

  constructor(
    /** Phone-number user part, e.g. 6281200000001. */
    readonly pn: string,
    /** LID user part. */
    readonly lid: string,
  ) {
    const store: SignalKeyStore = {
      get: <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
        const out: { [id: string]: SignalDataTypeMap[T] } = {};
        for (const id of ids) {
          const v = this.data.get(`${type}:${id}`);
          if (v !== undefined) out[id] = v as SignalDataTypeMap[T];
        }
        return Promise.resolve(out);
      },
      set: (d) => {
        for (const [type, byId] of Object.entries(d)) {
          for (const [id, v] of Object.entries(byId ?? {})) {
            if (v === null || v === undefined) this.data.delete(`${type}:${id}`);
            else this.data.set(`${type}:${id}`, v);
          }
        }
        return Promise.resolve();
      },
    };
    const keys = addTransactionCapability(store, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 });
    this.repo = DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds: this.creds, keys }, silent, () => Promise.resolve([]));
  }

  /** What a server's key fetch (`iq encrypt get <key>`) returns for this device: one fresh one-time pre-key each time. */
  bundleNode(jid: string): BinaryNode {
    const id = this.nextPreKeyId++;
    const pair = Curve.generateKeyPair();
    this.data.set(`pre-key:${id}`, pair);
    return bundleUser(jid, {
      registrationId: this.creds.registrationId,
      identity: this.creds.signedIdentityKey.public,
      signedPreKey: { id: this.creds.signedPreKey.keyId, pub: this.creds.signedPreKey.keyPair.public, signature: this.creds.signedPreKey.signature },
      preKey: { id, pub: pair.public },
    });
  }

  /** Starts a session to `jid` from its key bundle (a `<user>` node as a key fetch returns it). */
  async startSession(jid: string, user: BinaryNode): Promise<void> {
    await parseAndInjectE2ESessions({ tag: "iq", attrs: {}, content: [{ tag: "list", attrs: {}, content: [{ ...user, attrs: { jid } }] }] }, this.repo);
  }

  encrypt(jid: string, message: proto.IMessage): Promise<{ type: "pkmsg" | "msg"; ciphertext: Uint8Array }> {
    return this.repo.encryptMessage({ jid, data: encodeWAMessage(message) });
  }

  async decrypt(jid: string, type: "pkmsg" | "msg", ciphertext: Uint8Array): Promise<proto.IMessage> {
    const plain = await this.repo.decryptMessage({ jid, type, ciphertext });
    return proto.Message.decode(unpadRandomMax16(plain));
  }

  /** Keeps the sender key `author` distributed for a group (the `senderKeyDistributionMessage` of a pairwise copy). */
  async acceptSenderKey(author: string, item: proto.Message.ISenderKeyDistributionMessage): Promise<void> {
    await this.repo.processSenderKeyDistributionMessage({ item, authorJid: author });
  }

  /** A group message (`skmsg`) from `author`, with the sender key it distributed before. */
  async decryptGroup(group: string, author: string, ciphertext: Uint8Array): Promise<proto.IMessage> {
    const plain = await this.repo.decryptGroupMessage({ group, authorJid: author, msg: ciphertext });
    return proto.Message.decode(unpadRandomMax16(plain));
  }
}

export interface KeyBundle {
  registrationId: number;
  identity: Uint8Array;
  signedPreKey: { id: number; pub: Uint8Array; signature: Uint8Array };
  preKey?: { id: number; pub: Uint8Array };
}

/** A key bundle as the server hands it out (`<user jid>` with registration, type, identity, key, skey). */
export function bundleUser(jid: string, b: KeyBundle): BinaryNode {
  const content: BinaryNode[] = [
    { tag: "registration", attrs: {}, content: encodeBigEndian(b.registrationId) },
    { tag: "type", attrs: {}, content: KEY_BUNDLE_TYPE },
    { tag: "identity", attrs: {}, content: b.identity },
  ];
  if (b.preKey) {
    content.push({
      tag: "key",
      attrs: {},
      content: [
        { tag: "id", attrs: {}, content: encodeBigEndian(b.preKey.id, 3) },
        { tag: "value", attrs: {}, content: b.preKey.pub },
      ],
    });
  }
  content.push({
    tag: "skey",
    attrs: {},
    content: [
      { tag: "id", attrs: {}, content: encodeBigEndian(b.signedPreKey.id, 3) },
      { tag: "value", attrs: {}, content: b.signedPreKey.pub },
      { tag: "signature", attrs: {}, content: b.signedPreKey.signature },
    ],
  });
  return { tag: "user", attrs: { jid }, content };
}

/** What the server keeps of a device's uploaded keys (`iq encrypt set`): handed out one pre-key at a time. */
export class UploadedKeys {
  private next = 0;
  constructor(
    private readonly base: Omit<KeyBundle, "preKey">,
    private readonly preKeys: { id: number; pub: Uint8Array }[],
  ) {}

  get remaining(): number {
    return this.preKeys.length - this.next;
  }

  /** Reads an upload iq (getNextPreKeysNode's shape). */
  static fromUpload(iq: BinaryNode): UploadedKeys {
    const int = (b: Uint8Array | undefined) => (b ? b.reduce((n, x) => n * 256 + x, 0) : 0);
    const skey = getBinaryNodeChild(iq, "skey");
    const list = getBinaryNodeChildren(getBinaryNodeChild(iq, "list"), "key").map((k) => ({
      id: int(getBinaryNodeChildBuffer(k, "id")),
      pub: getBinaryNodeChildBuffer(k, "value")!,
    }));
    return new UploadedKeys(
      {
        registrationId: int(getBinaryNodeChildBuffer(iq, "registration")),
        identity: getBinaryNodeChildBuffer(iq, "identity")!,
        signedPreKey: { id: int(getBinaryNodeChildBuffer(skey, "id")), pub: getBinaryNodeChildBuffer(skey, "value")!, signature: getBinaryNodeChildBuffer(skey, "signature")! },
      },
      list,
    );
  }

  /** The next bundle, with a one-time pre-key while there are any (then the signed pre-key alone, as WhatsApp does). */
  take(jid: string): BinaryNode {
    const preKey = this.preKeys[this.next];
    if (preKey) this.next++;
    return bundleUser(jid, { ...this.base, ...(preKey ? { preKey } : {}) });
  }
}

export interface PairedSession {
  /** Jaga's device: `<pn>:<device>@s.whatsapp.net`. */
  deviceJid: string;
  /** Its keys as the server holds them after the upload a paired device made (none when `preKeys` is 0). */
  keys?: UploadedKeys;
}

/**
 * Writes into Jaga's store what a finished pairing leaves (validate-connection.ts
 * configureSuccessfulPairing: `me`, the signed `account`, `signalIdentities`, `platform`),
 * and, for a device that has run before, its uploaded pre-keys and `accountSyncCounter` 1 (no
 * first history sync to wait for). `preKeys: 0`, `synced: false` is the connection right after
 * pairing: Jaga uploads its 812 pre-keys and the phone sends the first history sync.
 */
export function writePairedSession(
  kv: LocalWaAuth,
  o: { pn: string; lid: string; device: number; preKeys: number; synced: boolean; /** The phone's identity key (the account signs with it). */ phoneIdentity: Uint8Array },
): PairedSession {
  const auth = sqliteAuthState(kv);
  const c = auth.state.creds;
  const deviceJid = `${o.pn}:${o.device}@s.whatsapp.net`;
  c.me = { id: deviceJid, name: "Jaga", lid: `${o.lid}:${o.device}@lid` };
  const accountSignatureKey = Buffer.from(o.phoneIdentity);
  c.account = proto.ADVSignedDeviceIdentity.fromObject({
    details: proto.ADVDeviceIdentity.encode({ rawId: 1, timestamp: Math.floor(Date.now() / 1000), keyIndex: 1 }).finish(),
    accountSignatureKey,
    accountSignature: randomBytes(64),
    deviceSignature: randomBytes(64),
  });
  c.signalIdentities = [{ identifier: { name: deviceJid, deviceId: 0 }, identifierKey: Buffer.concat([KEY_BUNDLE_TYPE, accountSignatureKey]) }];
  c.platform = "android";
  c.accountSyncCounter = o.synced ? 1 : 0;
  let keys: UploadedKeys | undefined;
  if (o.preKeys > 0) {
    const pairs: Record<number, { public: Uint8Array; private: Uint8Array }> = {};
    for (let id = 1; id <= o.preKeys; id++) pairs[id] = Curve.generateKeyPair();
    void auth.state.keys.set({ "pre-key": pairs });
    c.nextPreKeyId = o.preKeys + 1;
    c.firstUnuploadedPreKeyId = o.preKeys + 1;
    keys = new UploadedKeys(
      {
        registrationId: c.registrationId,
        identity: c.signedIdentityKey.public,
        signedPreKey: { id: c.signedPreKey.keyId, pub: c.signedPreKey.keyPair.public, signature: c.signedPreKey.signature },
      },
      Object.entries(pairs).map(([id, p]) => ({ id: Number(id), pub: p.public })),
    );
  }
  auth.saveCreds();
  return { deviceJid, ...(keys ? { keys } : {}) };
}

export interface HistoryShape {
  /** Chats in the sync (a fifth of them groups). */
  chats: number;
  /** Messages per chat. */
  messages: number;
  /** RECENT chunks after the INITIAL_BOOTSTRAP one. */
  recentChunks: number;
}

/** A small deterministic generator, so every run syncs the same history. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = "server restart ok done deploy check disk memory the a is on for we it please thanks tomorrow meeting invoice order send price stock ready".split(" ");

/**
 * The first history sync, as the phone sends it to a newly linked device: HistorySync protos,
 * zlib-deflated, one INITIAL_BOOTSTRAP chunk (the most recent few messages of every chat) and
 * `recentChunks` RECENT chunks with the rest, then PUSH_NAME. Returns the
 * HistorySyncNotification of each, its payload inline.
 */
export function firstHistorySync(shape: HistoryShape, me: { pn: string; lid: string }): { notifications: proto.Message.IHistorySyncNotification[]; bytes: number; deflated: number } {
  const rand = rng(14);
  const now = Math.floor(Date.now() / 1000);
  const sentence = () => Array.from({ length: 4 + Math.floor(rand() * 24) }, () => WORDS[Math.floor(rand() * WORDS.length)]!).join(" ");
  const chats = Array.from({ length: shape.chats }, (_, i) => {
    const group = i % 5 === 4;
    const id = group ? `1203630${String(10_000_000 + i)}@g.us` : `628${String(5_000_000_000 + i)}@s.whatsapp.net`;
    return { id, group, lid: group ? undefined : `${String(300_000_000_000_000 + i)}@lid` };
  });
  const messagesOf = (chat: (typeof chats)[number], from: number, to: number): proto.IHistorySyncMsg[] =>
    Array.from({ length: to - from }, (_, k) => {
      const n = from + k;
      const fromMe = rand() < 0.3;
      const participant = chat.group && !fromMe ? `628${String(6_000_000_000 + Math.floor(rand() * 40))}@s.whatsapp.net` : undefined;
      return {
        msgOrderId: n + 1,
        message: {
          key: { remoteJid: chat.id, fromMe, id: `3EB0${randomHex(rand)}`, ...(participant ? { participant } : {}) },
          message: rand() < 0.8 ? { conversation: sentence() } : { extendedTextMessage: { text: sentence(), contextInfo: { stanzaId: `3EB0${randomHex(rand)}` } } },
          messageTimestamp: now - (shape.messages - n) * 600,
          status: fromMe ? proto.WebMessageInfo.Status.READ : proto.WebMessageInfo.Status.DELIVERY_ACK,
          ...(participant ? { participant } : {}),
          pushName: fromMe ? undefined : `Contact ${n % 40}`,
        },
      };
    });
  const conversation = (chat: (typeof chats)[number], msgs: proto.IHistorySyncMsg[]): proto.IConversation => ({
    id: chat.id,
    messages: msgs,
    ...(chat.lid ? { lidJid: chat.lid } : {}),
    name: chat.group ? `Group ${chat.id.slice(7, 12)}` : undefined,
    conversationTimestamp: now,
    unreadCount: Math.floor(rand() * 3),
  });
  const syncs: proto.IHistorySync[] = [];
  const bootstrapMsgs = Math.min(shape.messages, 3);
  syncs.push({
    syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP,
    chunkOrder: 0,
    progress: 10,
    conversations: chats.map((c) => conversation(c, messagesOf(c, shape.messages - bootstrapMsgs, shape.messages))),
    phoneNumberToLidMappings: chats.filter((c) => c.lid).map((c) => ({ pnJid: c.id, lidJid: c.lid })),
  });
  const rest = shape.messages - bootstrapMsgs;
  for (let k = 0; k < shape.recentChunks; k++) {
    const from = Math.floor((rest * k) / shape.recentChunks);
    const to = Math.floor((rest * (k + 1)) / shape.recentChunks);
    syncs.push({
      syncType: proto.HistorySync.HistorySyncType.RECENT,
      chunkOrder: k + 1,
      progress: Math.round(10 + (90 * (k + 1)) / shape.recentChunks),
      conversations: chats.map((c) => conversation(c, messagesOf(c, from, to))),
    });
  }
  syncs.push({
    syncType: proto.HistorySync.HistorySyncType.PUSH_NAME,
    chunkOrder: shape.recentChunks + 1,
    pushnames: [{ id: `${me.pn}@s.whatsapp.net`, pushname: "Jaga" }, ...Array.from({ length: 40 }, (_, i) => ({ id: `628${String(6_000_000_000 + i)}@s.whatsapp.net`, pushname: `Contact ${i}` }))],
  });
  let bytes = 0;
  let deflated = 0;
  const notifications = syncs.map((s) => {
    const raw = proto.HistorySync.encode(s).finish();
    const payload = deflateSync(raw);
    bytes += raw.length;
    deflated += payload.length;
    return {
      syncType: s.syncType,
      chunkOrder: s.chunkOrder,
      ...(s.progress !== undefined ? { progress: s.progress } : {}),
      originalMessageId: `3EB0${randomHex(rand)}`,
      initialHistBootstrapInlinePayload: payload,
    };
  });
  return { notifications, bytes, deflated };
}

function randomHex(rand: () => number): string {
  return Array.from({ length: 16 }, () => "0123456789ABCDEF"[Math.floor(rand() * 16)]).join("");
}
