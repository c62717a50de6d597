/**
 * `/block <nik> [reason]` (admin): blocks a NIK. The NIK is checked first (16 digits, province,
 * birth date, serial), the reason is the free text after it. Blocking a blocked NIK is not an
 * error: the answer says since when. Replies show the NIK masked only.
 */
import { z } from "zod";
import { maskNik, nikArg, nikTokens } from "../src/nik.js";
import { freeText } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { shownReason, when } from "./blocked.js";

/** When Supabase is configured but failing, says that the write waits in Jaga (nothing is lost). */
export async function queuedNote(ctx: Context): Promise<string | null> {
  const replication = ctx.store.replication;
  if (!replication?.target || replication.lastError() === null) return null;
  return ctx.t("block.queued", { backlog: await replication.backlog() });
}

export default defineCommand({
  name: "block",
  summary: { id: "Blokir NIK", en: "Block a NIK" },
  usage: "<nik> [reason]",
  role: "admin",
  args: z.object({ nik: nikArg, reason: freeText(500).optional() }),
  parse(tokens) {
    const { nik, rest } = nikTokens(tokens);
    return { nik, reason: rest.length > 0 ? rest.join(" ") : undefined };
  },
  async run(ctx, { nik, reason }) {
    const masked = maskNik(nik);
    const r = await ctx.store.blocked.block({ nik, reason: reason ?? "", blockedBy: ctx.sender.name, at: ctx.clock.now() });
    if (!r.created) return ctx.t("block.already", { nik: masked, date: when(ctx, r.block.blockedAt), by: r.block.blockedBy });
    const note = await queuedNote(ctx);
    return [ctx.t("block.done", { nik: masked, reason: shownReason(ctx, r.block.reason) }), note].filter(Boolean).join("\n");
  },
});
