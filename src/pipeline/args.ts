/**
 * Argument schemas shared by commands. Their messages are i18n keys; the pipeline translates
 * them with the offending value, so "`bot-kjp;` is not a valid app name" reads well in both
 * languages.
 *
 * @example
 * args: z.object({ app: appName, host: hostName.optional() })
 */
import { z } from "zod";
import { NAME_RE } from "../config/schema.js";
import { redact, stripControls } from "../text.js";

/** A PM2 app name: `^[A-Za-z0-9._-]{1,64}$`. Anything else never reaches a host. */
export const appName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: "args.app" });

export const hostName = z.string().regex(NAME_RE, { message: "args.host" });

/** A whole number typed in chat, within bounds. */
export function count(min: number, max: number) {
  return z
    .string()
    .refine((s) => /^\d{1,9}$/.test(s) && Number(s) >= min && Number(s) <= max, {
      message: "args.count",
      params: { min, max },
    })
    .transform(Number);
}

/**
 * Free text typed in chat that is stored (a block reason): control characters and terminal
 * escapes removed, NIKs and secrets in it masked, at most `max` characters — and the refusal
 * says the limit.
 *
 * @example
 * args: z.object({ reason: freeText(500).optional() })
 */
export function freeText(max: number) {
  return z
    .string()
    .transform((s) => redact(stripControls(s)).trim())
    .superRefine((s, ctx) => {
      if (s.length > max) ctx.addIssue({ code: "custom", message: "args.too_long", params: { max, length: s.length } });
    });
}
