/** `/digest`: the morning digest, now. */
import { z } from "zod";
import { JagaError } from "../src/errors.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "digest",
  aliases: ["ringkasan"],
  summary: { id: "Ringkasan 24 jam terakhir", en: "The last 24 hours in one message" },
  role: "viewer",
  args: z.object({}),
  async run(ctx) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    return watch.digest.compose(ctx.clock.now());
  },
});
