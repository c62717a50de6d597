// Preloaded (`node --import`) into a `jaga start` that talks to the loopback WhatsApp stand-in
// (./wa-standin.ts: bench/memory.ts, test/standby.session.test.ts), and only there: Baileys
// checks the Noise certificate of the server against WhatsApp's root key
// (WA_CERT_DETAILS.PUBLIC_KEY). The stand-in signs its certificate with a root key of its own,
// given here in JAGA_WA_STANDIN_ROOT (hex); this swaps the key in, nothing else. It loads
// Baileys' Defaults module a moment earlier than Jaga would; with the WhatsApp transport Jaga
// loads that module (and all it imports) anyway.
import { Buffer } from "node:buffer";
import process from "node:process";
import { WA_CERT_DETAILS } from "@whiskeysockets/baileys/lib/Defaults/index.js";

const root = process.env.JAGA_WA_STANDIN_ROOT;
if (!root || !/^[0-9a-f]{64}$/.test(root)) throw new Error("JAGA_WA_STANDIN_ROOT: expected the stand-in's 32-byte root key in hex");
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root, "hex");
