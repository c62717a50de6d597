/**
 * Every value Jaga takes from Baileys, imported from the module that defines it. The package
 * root (lib/index.js) re-exports all of Baileys, WAM's analytics tables among it
 * (lib/WAM/constants.js, ~3 MB of heap and more in RSS) that makeWASocket never loads: on a
 * 2 GB box, importing the root pays for them for nothing. Types may still come from the root
 * (`import type`): they are erased. test/lazy-load.test.ts keeps src/ off the root.
 *
 * @example
 * import { makeWASocket, proto, jidDecode } from "./lib.js";
 */
export { default as makeWASocket } from "@whiskeysockets/baileys/lib/Socket/index.js";
export { proto } from "@whiskeysockets/baileys/WAProto/index.js";
export { DEFAULT_CONNECTION_CONFIG } from "@whiskeysockets/baileys/lib/Defaults/index.js";
export { initAuthCreds } from "@whiskeysockets/baileys/lib/Utils/auth-utils.js";
export { Browsers } from "@whiskeysockets/baileys/lib/Utils/browser-utils.js";
export { BufferJSON } from "@whiskeysockets/baileys/lib/Utils/generics.js";
export { normalizeMessageContent } from "@whiskeysockets/baileys/lib/Utils/messages.js";
export {
  isJidBroadcast,
  isJidGroup,
  isJidNewsletter,
  isJidStatusBroadcast,
  isLidUser,
  isPnUser,
  jidDecode,
} from "@whiskeysockets/baileys/lib/WABinary/jid-utils.js";
