/**
 * `/unblock <nik>` (admin): closes the NIK's active block; the block stays in its history.
 * Confirmed first: the plan shows the block being lifted.
 */
import { z } from "zod";
import { maskNik, nikArg, nikTokens } from "../src/nik.js";
import { defineCommand } from "../src/pipeline/command.js";
import { queuedNote } from "./block.js";
import { shownReason, when } from "./blocked.js";

export default defineCommand({
  name: "unblock",
  summary: { id: "Cabut blokir NIK", en: "Unblock a NIK" },
  usage: "<nik>",
  role: "admin",
  args: z.object({ nik: nikArg }),
  parse(tokens) {
    // A NIK typed in spaced groups is one argument.
    const { nik, rest } = nikTokens(tokens);
    return rest.length > 0 ? "too_many" : { nik };
  },
  scope: () => "none",
  destructive: {
    async plan(ctx, { nik }) {
      const active = await ctx.store.blocked.active(nik);
      if (!active) return null; // nothing would change: run answers "not blocked"
      const reason = active.reason.trim() ? `: ${shownReason(ctx, active.reason)}` : "";
      return ctx.t("unblock.plan", { nik: maskNik(nik), date: when(ctx, active.blockedAt), by: active.blockedBy, reason });
    },
  },
  async run(ctx, { nik }) {
    const masked = maskNik(nik);
    const closed = await ctx.store.blocked.unblock({ nik, by: ctx.sender.name, at: ctx.clock.now() });
    if (!closed) return ctx.t("unblock.not_blocked", { nik: masked });
    const note = await queuedNote(ctx);
    return [ctx.t("unblock.done", { nik: masked, date: when(ctx, closed.blockedAt) }), note].filter(Boolean).join("\n");
  },
});
