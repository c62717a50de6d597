/** `/ack <id>`: "I'm on it" — stops the reminders of an open incident; it is still watched. */
import { z } from "zod";
import { JagaError } from "../src/errors.js";
import { count } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "ack",
  summary: { id: "Tandai insiden sedang ditangani", en: "Acknowledge an incident" },
  usage: "<id>",
  role: "operator",
  args: z.object({ id: count(1, 1_000_000_000) }),
  parse: (tokens) => (tokens.length > 1 ? "too_many" : { id: tokens[0]?.replace(/^#/, "") }),
  async run(ctx, { id }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const before = await watch.incidents.get(id);
    if (!before) return ctx.t("ack.unknown", { id });
    if (before.state !== "open") return { host: before.host, text: ctx.t("ack.already", { id, state: before.state }) };
    await watch.desk.acknowledge(id, ctx.sender.name);
    return { host: before.host, text: ctx.t("ack.done", { id }) };
  },
});
