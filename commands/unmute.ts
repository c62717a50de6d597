/** `/unmute <app|host>`: alerts about it again. */
import { z } from "zod";
import { JagaError } from "../src/errors.js";
import { appName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "unmute",
  summary: { id: "Aktifkan lagi alert", en: "Unmute alerts" },
  usage: "<app|host>",
  role: "operator",
  args: z.object({ target: appName }),
  positional: ["target"],
  run(ctx, { target }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const key = `mute:${target}`;
    const was = watch.state.get<number>(key);
    watch.state.delete(key);
    return Promise.resolve(was && was > ctx.clock.now() ? ctx.t("unmute.done", { target }) : ctx.t("unmute.none", { target }));
  },
});
