/**
 * `/do <incident> <n>`: runs action n of an incident's alert (src/watch/actions.ts) as if its
 * command had been typed — by this sender, so with their role, the confirmation of a
 * destructive one, the limits and the audit. A quoted reply to an alert with just the number,
 * and a 👍 reaction to it (an acknowledgement), arrive here as `/do` too (see parse.ts) and
 * find the incident from the alert they answer. An action that ran ("ok") goes on the
 * incident's timeline, with who ran it (a plan waiting for `/yes` is not an action run yet).
 * A command that says what it did for an incident (`timeline` in its reply: `/dns fix` with its
 * before and after) is recorded with those words instead, typed or run through `/do`, and
 * whatever its outcome: a fix that was rolled back belongs on the timeline too.
 */
import type { LocalStore } from "../../store/store.js";
import { actionsFor, commandText, renderActions } from "../../watch/actions.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";

const NUMBER = /^#?(\d{1,9})$/;

export function act(deps: Pick<StepDeps, "store" | "services" | "clock" | "log">): Step {
  return async (turn, next) => {
    const parsed = turn.parsed!;
    if (parsed.name !== "do") {
      await next();
      // A confirmed plan that came from an action (`/do 12 3` → /stop → /yes) is recorded now it ran.
      await recordRun(deps, turn);
      return;
    }
    const { t } = turn;
    const usage = t("args.usage", { usage: "/do <incident> <n>" });
    let [idToken, n] = parsed.tokens;
    const replyTo = turn.message.replyTo;
    if (parsed.tokens.length === 1 && replyTo) {
      // A bare number or a 👍 answering an alert: the alert says which incident.
      const id = await incidentOfAlert(deps.store, replyTo);
      // A 👍 on anything but an alert is just a reaction.
      if (id === null && turn.message.reaction) return finish(turn, "ok", null, { audit: false });
      if (id === null) return finish(turn, "invalid", t("do.not_an_alert"));
      [idToken, n] = [String(id), parsed.tokens[0]];
    }
    if (parsed.tokens.length > 2 && !replyTo) return finish(turn, "invalid", `${t("args.too_many", { command: "do" })}\n${usage}`);
    const id = NUMBER.exec(idToken ?? "")?.[1];
    if (!id) return finish(turn, "invalid", `${t("args.required", { field: "incident" })}\n${usage}`);
    const incident = await deps.store.incidents.get(Number(id));
    if (!incident) return finish(turn, "invalid", t("ack.unknown", { id }));
    if (n === "ack") {
      turn.parsed = { name: "ack", tokens: [id], rest: id };
      return next();
    }
    const actions = actionsFor(incident);
    const index = /^\d{1,2}$/.test(n ?? "") ? Number(n) - 1 : -1;
    const chosen = actions[index];
    if (!chosen) {
      const list = actions.length ? renderActions(actions) : "-";
      return finish(turn, "invalid", t("do.which", { id, actions: list }));
    }
    if (incident.state === "resolved") return finish(turn, "invalid", t("do.resolved", { id, command: commandText(chosen) }));
    turn.parsed = { name: chosen.command, tokens: chosen.args, rest: chosen.args.join(" ") };
    turn.action = { incident: incident.id, command: commandText(chosen) };
    await next();
    // Only once it ran: a refusal or a plan waiting for its /yes is not an action taken.
    await recordRun(deps, turn);
  };
}

/** What a turn that ran puts on a timeline: the command's own words for it, else the action as run. */
async function recordRun(deps: Pick<StepDeps, "store" | "services" | "clock" | "log">, turn: Parameters<Step>[0]): Promise<void> {
  const r = turn.result;
  const by = turn.sender?.name ?? "?";
  if (r?.timeline) await recordAction(deps, r.timeline.incident, r.timeline.detail, by);
  if (turn.action && r?.outcome === "ok" && r.timeline?.incident !== turn.action.incident) await recordAction(deps, turn.action.incident, turn.action.command, by);
}

/** On the timeline, through the desk when watching runs (it survives a full disk); a failure is logged, the reply stands. */
async function recordAction(deps: Pick<StepDeps, "store" | "services" | "clock" | "log">, id: number, command: string, by: string): Promise<void> {
  try {
    const desk = deps.services.watch?.desk;
    if (desk) await desk.recordAction(id, command, by);
    else await deps.store.incidents.addEvent(id, { at: deps.clock.now(), kind: "action", by, detail: command });
  } catch (err) {
    deps.log.warn({ err, id, command }, "action not recorded on the incident's timeline");
  }
}

/**
 * The incident an alert message belongs to: its WhatsApp id → the outbox row it was sent
 * from → the `incident:<uid>:<phase>` key → the incident. Null when the message is no alert, or
 * holds several incidents' alerts (coalesced under pacing: then `/do <id> <n>` says which).
 */
async function incidentOfAlert(store: LocalStore, messageId: string): Promise<number | null> {
  const rows = await store.outbox.byMessageId(messageId);
  const uids = new Set(rows.map((r) => /^incident:([^:]+):/.exec(r.dedupeKey ?? "")?.[1]).filter((u) => u !== undefined));
  if (uids.size !== 1) return null;
  const [uid] = uids;
  const open = (await store.incidents.listOpen()).find((i) => i.uid === uid);
  if (open) return open.id;
  // The incident opened in the transaction that queued its first alert, just before it.
  const since = Math.min(...rows.map((r) => r.createdAt)) - 60_000;
  return (await store.incidents.listSince(since)).find((i) => i.uid === uid)?.id ?? null;
}
