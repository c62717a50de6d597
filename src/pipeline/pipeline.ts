/**
 * One path for every message from every transport, as a chain of small steps over one typed
 * context (src/pipeline/turn.ts), in the spirit of grammY's middleware:
 *
 *   mask → audit → boundary → identify → parse → limit → act (/do) → answer (/yes, /no)
 *   → resolve → authorise → validate → guard → confirm → run (with a timeout)
 *
 * Each step is its own module in src/pipeline/steps/; a new rule is a new step. The outer
 * three see every answer on its way back: `boundary` turns anything thrown into a short reply
 * with an error id, `audit` writes the row, `mask` runs the one masker over the text.
 *
 * Shutdown, in four steps: {@link Pipeline.close} (nothing new runs; plans waiting for a
 * `/yes` expire), {@link Pipeline.drain} (running commands finish, within a deadline),
 * {@link Pipeline.abort} (what still runs is ended and answered "stopped: Jaga is shutting
 * down"), and {@link Pipeline.seal}: from then on nothing a straggler returns is replied or
 * written, since the store is about to close.
 *
 * @example
 * const pipeline = new Pipeline({ commands, directory, hosts, store, config, clock, log });
 * const reply = await pipeline.handle(message); // null: not for Jaga, stay silent
 */
import type { IncomingMessage } from "../chat/transport.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import type { Inventory } from "../hosts/inventory.js";
import { translator } from "../i18n/index.js";
import type { Logger } from "../log.js";
import type { LocalStore, Outcome } from "../store/store.js";
import type { Command } from "./command.js";
import { Confirmations } from "./confirmations.js";
import type { Services } from "./context.js";
import type { Directory } from "./people.js";
import { act } from "./steps/act.js";
import { answer } from "./steps/answer.js";
import { audit, record } from "./steps/audit.js";
import { authorise } from "./steps/authorise.js";
import { boundary } from "./steps/boundary.js";
import { confirm } from "./steps/confirm.js";
import type { PipelineCounters, StepDeps } from "./steps/deps.js";
import { guard } from "./steps/guard.js";
import { identify } from "./steps/identify.js";
import { limit } from "./steps/limit.js";
import { mask } from "./steps/mask.js";
import { parse } from "./steps/parse.js";
import { resolve } from "./steps/resolve.js";
import { run, ShuttingDown } from "./steps/run.js";
import { validate } from "./steps/validate.js";
import { compose, type Turn } from "./turn.js";

export type { PipelineCounters };

export interface PipelineDeps {
  commands: readonly Command[];
  directory: Directory;
  hosts: Inventory;
  store: LocalStore;
  config: Config;
  clock: Clock;
  log: Logger;
  services?: Services;
}

export class Pipeline {
  readonly counters: PipelineCounters = { ignoredSenders: 0, handled: 0, failed: 0, limited: 0 };
  private readonly inflight = new Set<Promise<unknown>>();
  /** The abort handle of every message being handled now (shutdown aborts them all). */
  private readonly running = new Set<AbortController>();
  private readonly steps: (turn: Turn) => Promise<void>;
  private readonly deps: StepDeps;
  private closed = false;
  private sealed = false;

  constructor(deps: PipelineDeps) {
    const unknown = Object.keys(deps.config.commands).filter((n) => !deps.commands.some((c) => c.name === n));
    if (unknown.length > 0) throw new Error(`config: commands.${unknown[0]}: no such command`);
    const confirmations = new Confirmations(deps.clock, deps.config.confirm.within, (p) => {
      void this.track(record(this.deps, { at: deps.clock.now(), actor: p.sender.id, actorName: p.sender.name, command: p.command.name, args: p.args, host: null, outcome: "expired", durationMs: 0, errorId: null }));
    });
    this.deps = { ...deps, services: deps.services ?? {}, counters: this.counters, confirmations, sealed: () => this.sealed };
    const d = this.deps;
    this.steps = compose([
      mask,
      audit(d),
      boundary(d),
      identify(d),
      parse,
      limit(d),
      act(d),
      answer(d),
      resolve(d),
      authorise(d),
      validate,
      guard(d),
      confirm(d),
      run(d),
    ]);
  }

  /** Handles one message; resolves to the reply, or null when Jaga stays silent. */
  async handle(message: IncomingMessage): Promise<string | null> {
    return (await this.answer(message))?.text ?? null;
  }

  /**
   * Like {@link handle}, with the outcome too (a transport shows ✅ or ❌ by it).
   *
   * @example
   * const r = await pipeline.answer(message);
   * if (r) await transport.reply(message, r.text, r.outcome === "ok");
   */
  answer(message: IncomingMessage): Promise<{ text: string; outcome: Outcome } | null> {
    if (this.closed) {
      this.deps.log.debug({ chat: message.chatId }, "message arrived while stopping; nothing run");
      return Promise.resolve(null);
    }
    return this.track(this.process(message));
  }

  /**
   * Stops taking messages: from now on {@link answer} runs nothing and resolves null.
   *
   * @example
   * pipeline.close(); // first thing on SIGTERM
   */
  close(): void {
    this.closed = true;
    this.deps.confirmations.clear();
  }

  /**
   * Waits for every message already being handled, or until `signal` aborts; true when none
   * is left.
   *
   * @example
   * const done = await pipeline.drain(AbortSignal.timeout(8_000));
   */
  async drain(signal?: AbortSignal): Promise<boolean> {
    const gaveUp = new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    while (this.inflight.size > 0 && !signal?.aborted) {
      await Promise.race([Promise.allSettled([...this.inflight]), gaveUp]);
    }
    return this.inflight.size === 0;
  }

  /**
   * Aborts every running command: its processes end, locally and on remote hosts (their
   * process groups), and it answers that Jaga is shutting down.
   *
   * @example
   * if (!(await pipeline.drain(deadline))) pipeline.abort();
   */
  abort(): void {
    for (const controller of this.running) controller.abort(new ShuttingDown());
  }

  /**
   * Whatever a command still returns after this is dropped: no reply, no audit row (the
   * store is closing). Implies {@link close}.
   *
   * @example
   * pipeline.seal(); await store.close();
   */
  seal(): void {
    if (!this.closed) this.close();
    this.sealed = true;
  }

  private async process(message: IncomingMessage): Promise<{ text: string; outcome: Outcome } | null> {
    const controller = new AbortController();
    const turn: Turn = { message, started: this.deps.clock.now(), controller, t: translator(this.deps.config.language), label: "" };
    this.running.add(controller);
    try {
      await this.steps(turn);
    } finally {
      this.running.delete(controller);
    }
    const r = turn.result;
    if (!r || r.text === null || this.sealed) return null;
    return { text: r.text, outcome: r.outcome };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }
}
