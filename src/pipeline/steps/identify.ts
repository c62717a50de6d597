/**
 * Who is this? A sender not in the config gets no reply — in a direct chat or in the alert
 * group alike: being in the group grants nothing. Each is counted, and logged at most once a
 * minute (a spammer must not fill the disk), with how many were left out.
 */
import { LogLimit } from "../../log-limit.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import { translator } from "../../i18n/index.js";
import type { StepDeps } from "./deps.js";

export function identify(deps: Pick<StepDeps, "directory" | "counters" | "log" | "clock">): Step {
  const limit = new LogLimit(deps.log, deps.clock);
  return async (turn, next) => {
    const sender = deps.directory.lookup(turn.message.senderId);
    if (!sender) {
      deps.counters.ignoredSenders++;
      limit.warn("unknown-sender", undefined, "messages from people not in the config are ignored", {
        sender: turn.message.senderId,
        group: turn.message.isGroup,
        ignored: deps.counters.ignoredSenders,
      });
      return finish(turn, "denied", null, { audit: false });
    }
    turn.sender = sender;
    turn.t = translator(sender.language);
    await next();
  };
}
