/**
 * Chat text to a command name and tokens (src/pipeline/parse.ts). Ordinary chat is not for
 * Jaga: silence in a group, a pointer to /help in a direct chat — except a confirmation typed
 * without the slash (`ya 4821`), which becomes `/ya 4821`; a quoted reply of just a number,
 * which becomes `/do <n>` on the alert it answers; and a 👍 reaction to a message, which becomes
 * an acknowledgement of its incident (both resolved in act.ts).
 */
import { echo } from "../../text.js";
import { normalize, parseMessage } from "../parse.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";

/** `ya 4821`, `yes 4821`, `no 4821`, `batal 4821`: a plain answer needs its code. */
const PLAIN_ANSWER = /^(ya|yes|y|no|tidak|batal)\s+(\d{4})$/i;
/** 👍 in any skin tone. */
const THUMBS_UP = /^\u{1F44D}[\u{1F3FB}-\u{1F3FF}]?$/u;

export const parse: Step = async (turn, next) => {
  const { replyTo, reaction } = turn.message;
  if (reaction) {
    // Only 👍 means something (an ack); any other reaction is just a reaction.
    if (!replyTo || !THUMBS_UP.test(turn.message.text.trim())) return finish(turn, "ok", null, { audit: false });
    turn.parsed = { name: "do", tokens: ["ack"], rest: "ack" };
    turn.label = "do";
    return next();
  }
  const parsed = parseMessage(turn.message.text);
  const quotedNumber = replyTo ? /^\d{1,2}$/.exec(normalize(turn.message.text).trim().replace(/^[*_~`]+|[*_~`]+$/g, "")) : null;
  if (parsed.kind === "chat" && quotedNumber) {
    turn.parsed = { name: "do", tokens: [quotedNumber[0]], rest: quotedNumber[0] };
  } else if (parsed.kind === "chat") {
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
