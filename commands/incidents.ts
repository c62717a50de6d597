/** `/incidents`: what is wrong right now, oldest first, with ids for /ack. */
import { z } from "zod";
import { formatDuration } from "../src/duration.js";
import { JagaError } from "../src/errors.js";
import { defineCommand } from "../src/pipeline/command.js";
import { KIND_ICONS } from "../src/watch/desk.js";

export default defineCommand({
  name: "incidents",
  aliases: ["insiden", "inc"],
  summary: { id: "Insiden yang masih terbuka", en: "Open incidents" },
  role: "viewer",
  args: z.object({}),
  async run(ctx) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const open = await watch.incidents.listOpen();
    if (open.length === 0) return ctx.t("incidents.none");
    const now = ctx.clock.now();
    const lines = open.map((i) =>
      ctx.t("incidents.line", {
        id: i.id,
        icon: KIND_ICONS[i.kind] ?? "🚨",
        what: `${i.kind}${i.app ? ` \`${i.app}\`` : ""} @${i.host}`,
        age: formatDuration(now - i.openedAt),
        state: i.state === "acknowledged" ? ctx.t("incidents.acked_by", { who: i.acknowledgedBy ?? "?" }) : i.state,
      }),
    );
    return [ctx.t("incidents.header", { count: open.length }), ...lines].join("\n");
  },
});
