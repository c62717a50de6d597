/**
 * One message's way through the pipeline: the typed context every step reads and adds to, as
 * grammY's context is for its middleware. A step that answers sets `result` and does not call
 * `next()`; the outer steps (reply, audit) see it on the way back.
 *
 * @example
 * const step: Step = async (turn, next) => {
 *   if (!turn.sender) return finish(turn, "denied", null);
 *   await next();
 * };
 */
import type { IncomingMessage } from "../chat/transport.js";
import type { Translate } from "../i18n/index.js";
import type { Outcome } from "../store/store.js";
import type { Command } from "./command.js";
import type { Pending } from "./confirmations.js";
import type { Context } from "./context.js";
import type { Person } from "./people.js";

export interface Result {
  /** The reply; null: stay silent. */
  text: string | null;
  outcome: Outcome;
  errorId?: string | null;
  /** The host acted on, for the audit log. */
  host?: string | null;
  /** False for what is not a command (chat in a group, the hint): no audit row. */
  audit?: boolean;
  /** What the command asks to put on an incident's timeline (see `Reply` in command.ts). */
  timeline?: { incident: number; detail: string };
}

export interface Turn {
  readonly message: IncomingMessage;
  /** Epoch ms when the pipeline took the message. */
  readonly started: number;
  /** Aborted when the command's time is up or Jaga stops. */
  readonly controller: AbortController;
  /** Translates into the sender's language once known (the configured language before). */
  t: Translate;
  sender?: Person;
  /** The command's name and tokens, folded (src/pipeline/parse.ts). */
  parsed?: { name: string; tokens: string[]; rest: string };
  /** What the audit log calls the command: its name, or what was typed for an unknown one. */
  label: string;
  command?: Command;
  /** The command's own context, built once the command is known. */
  ctx?: Context;
  /** Validated arguments (or, before validation, what is recorded of the input). */
  args?: Record<string, unknown>;
  /** Set when this turn runs a plan its sender confirmed. */
  confirmed?: Pending;
  /** Set when this turn runs an incident's numbered action (`/do`): recorded on its timeline once it ran. */
  action?: { incident: number; command: string };
  result?: Result;
}

export type Next = () => Promise<void>;
/** One step of the pipeline. */
export type Step = (turn: Turn, next: Next) => Promise<void>;

/**
 * Ends the turn with an answer (the step returns without calling `next`).
 *
 * @example
 * return finish(turn, "invalid", turn.t("parse.empty"));
 */
export function finish(turn: Turn, outcome: Outcome, text: string | null, extra: Partial<Result> = {}): void {
  turn.result = { text, outcome, ...extra };
}

/**
 * Chains steps into one handler, each getting `next` to run the rest.
 *
 * @example
 * const handle = compose([audit, identify, parse, run]);
 * await handle(turn);
 */
export function compose(steps: readonly Step[]): (turn: Turn) => Promise<void> {
  const at = (i: number, turn: Turn): Promise<void> => {
    const step = steps[i];
    if (!step) return Promise.resolve();
    let called = false;
    return step(turn, () => {
      if (called) return Promise.reject(new Error(`step ${i} called next() twice`));
      called = true;
      return at(i + 1, turn);
    });
  };
  return (turn) => at(0, turn);
}
