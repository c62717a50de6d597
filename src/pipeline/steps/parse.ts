/**
 * Chat text to a command name and tokens (src/pipeline/parse.ts). Ordinary chat is not for
 * Jaga: silence in a group, a pointer to /help in a direct chat — except a confirmation typed
 * without the slash (`ya 4821`), which becomes `/ya 4821`.
 */
import { echo } from "../../text.js";
import { normalize, parseMessage } from "../parse.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";

/** `ya 4821`, `yes 4821`, `no 4821`, `batal 4821`: a plain answer needs its code. */
const PLAIN_ANSWER = /^(ya|yes|y|no|tidak|batal)\s+(\d{4})$/i;

export const parse: Step = async (turn, next) => {
  const parsed = parseMessage(turn.message.text);
  if (parsed.kind === "chat") {
    const plain = PLAIN_ANSWER.exec(normalize(turn.message.text).trim());
    if (!plain) {
      const text = turn.message.isGroup || turn.message.text.trim() === "" ? null : turn.t("parse.hint");
      return finish(turn, "ok", text, { audit: false });
    }
    turn.parsed = { name: plain[1]!.toLowerCase(), tokens: [plain[2]!], rest: plain[2]! };
  } else if (parsed.kind === "invalid") {
    turn.label = "?";
    return finish(turn, "invalid", turn.t(parsed.key, parsed.params));
  } else {
    turn.parsed = { name: parsed.name, tokens: parsed.tokens, rest: parsed.rest };
  }
  turn.label = echo(turn.parsed.name, 32);
  await next();
};
