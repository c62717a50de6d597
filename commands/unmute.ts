/** `/unmute <app|host>`: alerts about it again. A name that is neither muted nor known is said to be unknown. */
import { z } from "zod";
import { JagaError } from "../src/errors.js";
import { appName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import { mustExist } from "./mute.js";

export default defineCommand({
  name: "unmute",
  summary: { id: "Aktifkan lagi alert", en: "Unmute alerts" },
  usage: "<app|host>",
  role: "operator",
  args: z.object({ target: appName }),
  positional: ["target"],
  async run(ctx, { target }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const key = `mute:${target}`;
    const was = watch.state.get<number>(key);
    // A mute that exists can always be lifted, even of an app since removed.
    if (was === undefined || was === null) await mustExist(ctx, target);
    watch.state.delete(key);
    return was && was > ctx.clock.now() ? ctx.t("unmute.done", { target }) : ctx.t("unmute.none", { target });
  },
});
