/**
 * Decides what an incoming Baileys message is to Jaga: a command from a known person (in a
 * direct chat or the alert group), or something to ignore, with the reason it is ignored (for
 * the counters). Pure apart from the LID map it is given.
 *
 * Baileys 7 may address a sender by LID (`…@lid`) instead of phone number; the phone number
 * then arrives beside it as `remoteJidAlt` (direct chats) or `participantAlt` (groups). Every
 * pair seen is remembered, so a later message carrying only the LID is still recognised.
 *
 * @example
 * const v = interpretMessage(msg, "notify", { alertGroup, isKnown, lids });
 * if (v.accept) handler(v.message); else counters[v.reason]++;
 */
import type { WAMessage } from "@whiskeysockets/baileys";
import { isJidBroadcast, isJidGroup, isJidNewsletter, isJidStatusBroadcast, isLidUser, isPnUser, jidDecode, normalizeMessageContent } from "./lib.js";
import type { IncomingMessage } from "../transport.js";

export type IgnoreReason =
  | "history"
  | "duplicate"
  | "stale"
  | "own"
  | "status"
  | "broadcast"
  | "newsletter"
  | "malformed"
  | "not-text"
  | "other-group"
  | "unknown-sender";

export type Verdict =
  | { accept: true; message: IncomingMessage; lid?: { lid: string; phone: string } }
  /** `unresolvedLid`: the sender came as a LID nobody has mapped yet (ask Baileys, then decide). */
  | { accept: false; reason: IgnoreReason; unresolvedLid?: string };

export interface LidLookup {
  /** Phone number for a LID user part, if known. */
  get(lid: string): string | undefined;
}

export interface InboundContext {
  /** The alert group's jid (`…@g.us`); other groups are ignored. */
  alertGroup?: string;
  /** Whether this phone number belongs to a person in the config. */
  isKnown(phone: string): boolean;
  lids: LidLookup;
}

/**
 * Reads an upsert'ed message. `type` is Baileys' upsert type: `notify` is live, `append` is a
 * message delivered late — sent while Jaga was offline (the server's offline queue) or a stub —
 * which is taken like a live one: whether it is still fresh enough to run is the transport's
 * call (`whatsapp.maxCommandAge`), not the delivery path's. History sync never comes here
 * (rc14 emits it as `messaging-history.set`).
 */
export function interpretMessage(msg: WAMessage, type: string, ctx: InboundContext): Verdict {
  const key = msg.key;
  const remote = key?.remoteJid;
  if (type !== "notify" && type !== "append") return { accept: false, reason: "history" };
  if (!key || !remote || !key.id) return { accept: false, reason: "malformed" };
  if (key.fromMe) return { accept: false, reason: "own" };
  if (isJidStatusBroadcast(remote)) return { accept: false, reason: "status" };
  if (isJidBroadcast(remote)) return { accept: false, reason: "broadcast" };
  if (isJidNewsletter(remote)) return { accept: false, reason: "newsletter" };
  if (msg.messageStubType || !msg.message) return { accept: false, reason: "not-text" };
  const content = normalizeMessageContent(msg.message);
  if (content?.protocolMessage) return { accept: false, reason: "not-text" };
  // A reaction is its emoji, answering the message it reacts to (👍 on an alert acks it); an
  // empty one is a reaction taken back.
  const reaction = content?.reactionMessage;
  if (reaction && (!reaction.text || !reaction.key?.id)) return { accept: false, reason: "not-text" };
  const text = reaction ? reaction.text! : (content?.conversation ?? content?.extendedTextMessage?.text ?? null);
  if (typeof text !== "string") return { accept: false, reason: "not-text" };
  // A quoted reply names the message it answers (an alert: "2" runs its action 2).
  const replyTo = reaction ? reaction.key!.id! : (content?.extendedTextMessage?.contextInfo?.stanzaId ?? undefined);

  const isGroup = Boolean(isJidGroup(remote));
  if (isGroup && remote !== ctx.alertGroup) return { accept: false, reason: "other-group" };
  const sender = isGroup ? key.participant : remote;
  const alt = isGroup ? key.participantAlt : key.remoteJidAlt;
  if (!sender) return { accept: false, reason: "malformed" };
  const { phone, lid } = phoneOf(sender, alt ?? undefined, ctx.lids);
  if (!phone) return { accept: false, reason: "unknown-sender", unresolvedLid: isLidUser(sender) ? sender : undefined };
  if (!ctx.isKnown(phone)) return { accept: false, reason: "unknown-sender" };
  const ts = Number(msg.messageTimestamp ?? 0);
  return {
    accept: true,
    message: {
      id: key.id,
      chatId: remote,
      isGroup,
      senderId: phone,
      text,
      at: ts > 0 ? ts * 1000 : Date.now(),
      ...(replyTo ? { replyTo } : {}),
      ...(reaction ? { reaction: true } : {}),
    },
    lid,
  };
}

/** The phone number behind a sender jid, and a LID-to-phone pair when the message revealed one. */
export function phoneOf(sender: string, alt: string | undefined, lids: LidLookup): { phone?: string; lid?: { lid: string; phone: string } } {
  const user = (jid: string | undefined) => jidDecode(jid)?.user;
  if (isPnUser(sender)) {
    const phone = user(sender);
    const lidUser = alt && isLidUser(alt) ? user(alt) : undefined;
    return { phone, lid: phone && lidUser ? { lid: lidUser, phone } : undefined };
  }
  if (isLidUser(sender)) {
    const lidUser = user(sender);
    const phone = alt && isPnUser(alt) ? user(alt) : undefined;
    if (phone && lidUser) return { phone, lid: { lid: lidUser, phone } };
    return { phone: lidUser ? lids.get(lidUser) : undefined };
  }
  return {};
}

/**
 * Baileys' `shouldIgnoreJid`: chats Jaga never reads are dropped before decryption (acked,
 * not decrypted, no Signal session work), which is what keeps a bot in a busy account from
 * drowning in status posts and "Bad MAC" retries (Baileys #2234). Kept: direct chats with people
 * (phone number or LID) and the alert group. Dropped: status, broadcast lists, newsletters,
 * every other group. WhatsApp's own server jid is never passed here by Baileys.
 *
 * @example
 * ignoreJid("status@broadcast", "1203…@g.us"); // true
 * ignoreJid("62812…@s.whatsapp.net", undefined); // false
 */
export function ignoreJid(jid: string, alertGroup: string | undefined): boolean {
  if (isJidStatusBroadcast(jid) || isJidBroadcast(jid) || isJidNewsletter(jid)) return true;
  if (isJidGroup(jid)) return jid !== alertGroup;
  return false;
}

/**
 * How late a message is: `null` when it may still run, else its age in ms. A phone's clock may
 * run ahead of Jaga's, so a message "from the future" counts as fresh.
 *
 * @example
 * lateBy(now - 38 * 60_000, now, 120_000); // 2280000: too old to run
 * lateBy(now - 5_000, now, 120_000);       // null
 */
export function lateBy(sentAt: number, now: number, maxAgeMs: number): number | null {
  const age = now - sentAt;
  return age > maxAgeMs ? age : null;
}
