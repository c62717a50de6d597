/**
 * Pairing a new WhatsApp session: the QR drawn in the terminal, or — with JAGA_PAIR_PHONE — a
 * pairing code typed on the phone. Baileys only accepts a pairing-code request once the socket
 * has shown its first QR, so the code is requested from the QR event, once per socket.
 *
 * @example
 * const pair = makePairing({ output: process.stdout, t, log, pairPhone: "6281234567890" });
 * openBaileysSocket(route, hooks, { ..., onQr: pair });
 */
import type { Writable } from "node:stream";
import type { WASocket } from "@whiskeysockets/baileys";
import type { Translate } from "../../i18n/index.js";
import type { Logger } from "../../log.js";

export interface PairingOptions {
  output: Writable;
  t: Translate;
  log: Logger;
  /** Phone number (international digits) to pair by code instead of QR. */
  pairPhone?: string;
}

/** Returns the `onQr` handler for one socket factory. */
export function makePairing(o: PairingOptions): (qr: string, sock: WASocket) => void {
  const requested = new WeakSet<WASocket>();
  return (qr, sock) => {
    if (o.pairPhone) {
      if (requested.has(sock)) return;
      requested.add(sock);
      const phone = o.pairPhone.replace(/\D/g, "");
      sock
        .requestPairingCode(phone)
        .then((code) => o.output.write(`${o.t("wa.pairing_code", { phone, code: formatCode(code) })}\n`))
        .catch((err: unknown) => o.log.warn({ err }, "pairing code request failed; scan the QR instead"));
      return;
    }
    // Loaded for the first QR only: a paired Jaga never draws one, so it never pays for it.
    import("qrcode-terminal")
      .then(({ default: qrcode }) =>
        qrcode.generate(qr, { small: true }, (art: string) => {
          o.output.write(`${o.t("wa.qr")}\n${art}\n`);
        }),
      )
      .catch((err: unknown) => o.log.warn({ err }, "drawing the QR failed"));
  };
}

/** `ABCD1234` -> `ABCD-1234`, as WhatsApp shows it. */
function formatCode(code: string): string {
  return code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
}
