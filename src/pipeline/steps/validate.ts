/**
 * Tokens to the command's arguments, checked by its zod schema. A bad value is answered with
 * what was wrong and the usage line; nothing runs. A plan being confirmed was validated when
 * it was asked and is not parsed again.
 */
import type { z } from "zod";
import { isMessageKey, type Translate } from "../../i18n/index.js";
import { echo } from "../../text.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";

export const validate: Step = async (turn, next) => {
  if (turn.confirmed) return next();
  const command = turn.command!;
  const { t } = turn;
  const usage = t("args.usage", { usage: command.usage });
  // Until the arguments are valid, the audit log records what was typed.
  turn.args = { text: echo(turn.parsed!.rest, 120) };
  const raw = command.toRaw(turn.parsed!.tokens, turn.ctx!);
  if (raw === "too_many") return finish(turn, "invalid", `${t("args.too_many", { command: command.name })}\n${usage}`);
  const valid = command.schema.safeParse(raw, { reportInput: true });
  if (!valid.success) {
    turn.args = raw;
    const problem = describeArgIssue(valid.error.issues[0]!, t);
    return finish(turn, "invalid", `${t("args.invalid", { problem })}\n${usage}`);
  }
  turn.args = valid.data;
  await next();
};

function describeArgIssue(issue: z.core.$ZodIssue, t: Translate): string {
  const field = issue.path.map(String).join(".") || "?";
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "invalid_type" && input === undefined) return t("args.required", { field });
  if (isMessageKey(issue.message)) {
    const params = (issue as { params?: Record<string, string | number> }).params ?? {};
    const value = typeof input === "string" || typeof input === "number" ? String(input) : "";
    return t(issue.message, { field, value: echo(value), ...params });
  }
  return t("args.bad", { field });
}
