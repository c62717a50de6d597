/**
 * The last word on every reply: one masker (src/text.ts `redact`) over the text that leaves
 * Jaga, whatever a command or a step put in it — NIKs in any written form, tokens and keys.
 */
import { redact } from "../../text.js";
import type { Step } from "../turn.js";

export const mask: Step = async (turn, next) => {
  await next();
  if (turn.result?.text) turn.result.text = redact(turn.result.text);
};
