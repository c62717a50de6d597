/**
 * One path for every message from every transport:
 *
 *   who is this → parse → which command → may they → validate (zod) → run with a timeout
 *   → reply → audit
 *
 * Nothing a command throws escapes: an expected failure (JagaError) becomes its own short
 * message, anything else becomes "something went wrong" with an id that the log also carries.
 *
 * Shutdown, in four steps: {@link Pipeline.close} (nothing new runs), {@link Pipeline.drain}
 * (running commands finish, within a deadline), {@link Pipeline.abort} (what still runs is ended
 * and answered "stopped: Jaga is shutting down"), and {@link Pipeline.seal}: from then on nothing
 * a straggler returns is replied or written, since the store is about to close.
 *
 * @example
 * const pipeline = new Pipeline({ commands, directory, hosts, store, config, clock, log });
 * const reply = await pipeline.handle(message); // null: not for Jaga, stay silent
 */
import { setMaxListeners } from "node:events";
import type { IncomingMessage } from "../chat/transport.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import { errorId, isJagaError } from "../errors.js";
import type { Inventory } from "../hosts/inventory.js";
import { isMessageKey, translator, type Translate } from "../i18n/index.js";
import { logOnce } from "../log-limit.js";
import type { Logger } from "../log.js";
import type { LocalStore, Outcome } from "../store/store.js";
import { closest, echo, redact } from "../text.js";
import { allows, type Command, type Reply } from "./command.js";
import type { Context, Services } from "./context.js";
import { parseMessage } from "./parse.js";
import type { Directory, Person } from "./people.js";
import type { z } from "zod";

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

export interface PipelineCounters {
  /** Messages from people not in the config: never answered. */
  ignoredSenders: number;
  handled: number;
  failed: number;
}

class CommandTimeout extends Error {
  constructor() {
    super("command timed out");
    this.name = "CommandTimeout";
  }
}

/** The reason a command's signal carries when Jaga stops under it. */
class ShuttingDown extends Error {
  constructor() {
    super("Jaga is shutting down");
    this.name = "ShuttingDown";
  }
}

interface Outcome_ {
  text: string | null;
  command: string;
  args: Record<string, unknown>;
  host: string | null;
  outcome: Outcome;
  errorId: string | null;
}

export class Pipeline {
  readonly counters: PipelineCounters = { ignoredSenders: 0, handled: 0, failed: 0 };
  private readonly byName = new Map<string, Command>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** The abort handle of every command running now (shutdown aborts them all). */
  private readonly running = new Set<AbortController>();
  private closed = false;
  private sealed = false;

  constructor(private readonly deps: PipelineDeps) {
    for (const c of deps.commands) for (const n of [c.name, ...c.aliases]) this.byName.set(n, c);
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
    const p = this.process(message);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /**
   * Stops taking messages: from now on {@link answer} runs nothing and resolves null.
   *
   * @example
   * pipeline.close(); // first thing on SIGTERM
   */
  close(): void {
    this.closed = true;
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
    this.closed = true;
    this.sealed = true;
  }

  private async process(message: IncomingMessage): Promise<{ text: string; outcome: Outcome } | null> {
    const { directory, clock, log } = this.deps;
    const sender = directory.lookup(message.senderId);
    if (!sender) {
      this.counters.ignoredSenders++;
      log.debug({ chat: message.chatId }, "message from an unknown sender ignored");
      return null;
    }
    const started = clock.now();
    const t = translator(sender.language);
    const result = await this.decide(message, sender, t);
    if (result.text === null || this.sealed) return null;
    this.counters.handled++;
    if (result.outcome !== "ok") this.counters.failed++;
    const durationMs = clock.now() - started;
    try {
      await this.deps.store.audit.add({
        at: started,
        actor: sender.id,
        actorName: sender.name,
        // Every column that can carry what was typed goes through the one masker.
        command: redact(result.command),
        args: redact(JSON.stringify(result.args)),
        host: result.host === null ? null : redact(result.host),
        outcome: result.outcome,
        durationMs,
        errorId: result.errorId,
      });
    } catch (err) {
      // A full disk must not also cost the admin the answer.
      logOnce(log, "audit.write", err, "audit write failed");
    }
    log.info({ actor: sender.name, command: result.command, host: result.host, outcome: result.outcome, durationMs }, "command");
    return { text: redact(result.text), outcome: result.outcome };
  }

  private async decide(message: IncomingMessage, sender: Person, t: Translate): Promise<Outcome_> {
    const base = { args: {}, host: null, errorId: null };
    const parsed = parseMessage(message.text);
    if (parsed.kind === "chat") {
      // In a group people talk among themselves; in a direct chat, point the way.
      const text = message.isGroup || message.text.trim() === "" ? null : t("parse.hint");
      return { ...base, text, command: "", outcome: "ok" };
    }
    if (parsed.kind === "invalid") {
      return { ...base, text: t(parsed.key, parsed.params), command: "?", outcome: "invalid" };
    }
    const command = this.byName.get(parsed.name);
    if (!command) {
      const names = this.deps.commands.filter((c) => allows(sender.role, c.role)).map((c) => c.name);
      const suggestions = closest(parsed.name, names).map((n) => `*/${n}*`);
      const text = [
        t("command.unknown", { command: echo(parsed.name) }),
        suggestions.length ? t("command.did_you_mean", { suggestions: suggestions.join(", ") }) : t("parse.hint"),
      ].join("\n");
      return { ...base, text, command: echo(parsed.name, 32), outcome: "invalid" };
    }
    const name = command.name;
    if (!allows(sender.role, command.role)) {
      const text = t("command.denied", { command: name, needed: t(`role.${command.role}`), role: t(`role.${sender.role}`) });
      return { ...base, text, command: name, outcome: "denied" };
    }

    const controller = new AbortController();
    // A fleet-wide command hands this signal to one remote call per host: more than Node's
    // default of 10 listeners is expected, not a leak (each call removes its own).
    setMaxListeners(0, controller.signal);
    const timeoutMs = command.timeoutMs ?? this.deps.config.commandTimeout;
    const ctx = this.context(message, sender, t, controller.signal, this.deps.clock.now() + timeoutMs);
    const usage = t("args.usage", { usage: command.usage });
    let raw: ReturnType<Command["toRaw"]>;
    try {
      raw = command.toRaw(parsed.tokens, ctx);
    } catch (err) {
      // A command's own parse() is code too: its throw is answered and audited like run()'s.
      const id = errorId();
      this.deps.log.error({ err, errorId: id, command: name }, "command parse crashed");
      return { ...base, text: t("error.internal", { id }), command: name, args: { text: echo(parsed.rest, 120) }, outcome: "error", errorId: id };
    }
    if (raw === "too_many") {
      const text = `${t("args.too_many", { command: name })}\n${usage}`;
      return { ...base, text, command: name, args: { text: echo(parsed.rest, 120) }, outcome: "invalid" };
    }
    const valid = command.schema.safeParse(raw, { reportInput: true });
    if (!valid.success) {
      const problem = describeArgIssue(valid.error.issues[0]!, t);
      return { ...base, text: `${t("args.invalid", { problem })}\n${usage}`, command: name, args: raw, outcome: "invalid" };
    }
    const args = valid.data;
    const argHost = typeof args.host === "string" ? args.host : null;

    this.running.add(controller);
    try {
      const reply = await this.runWithTimeout(command, ctx, args, timeoutMs, controller);
      const { text, host } = typeof reply === "string" ? { text: reply, host: undefined } : reply;
      return { text, command: name, args, host: host ?? argHost, outcome: "ok", errorId: null };
    } catch (err) {
      if (err instanceof CommandTimeout) {
        const text = t("error.timeout", { command: name, seconds: Math.round(timeoutMs / 1000) });
        return { text, command: name, args, host: argHost, outcome: "timeout", errorId: null };
      }
      if (err instanceof ShuttingDown) {
        return { text: t("error.shutdown", { command: name }), command: name, args, host: argHost, outcome: "timeout", errorId: null };
      }
      if (isJagaError(err)) {
        const suggestions = err.params.suggestions;
        const text = [
          t(err.code, err.params),
          suggestions ? t("command.did_you_mean", { suggestions: String(suggestions).split(", ").map((s) => `\`${s}\``).join(", ") }) : "",
        ]
          .filter(Boolean)
          .join("\n");
        if (err.detail) this.deps.log.warn({ command: name, code: err.code, detail: err.detail }, "command failed");
        return { text, command: name, args, host: argHost, outcome: "error", errorId: null };
      }
      const id = errorId();
      this.deps.log.error({ err, errorId: id, command: name }, "command crashed");
      return { text: t("error.internal", { id }), command: name, args, host: argHost, outcome: "error", errorId: id };
    } finally {
      this.running.delete(controller);
    }
  }

  private async runWithTimeout(
    command: Command,
    ctx: Context,
    args: unknown,
    timeoutMs: number,
    controller: AbortController,
  ): Promise<Reply> {
    const timer = new AbortController();
    const running = command.run(ctx, args);
    const expired = this.deps.clock.sleep(timeoutMs, timer.signal).then(() => {
      throw new CommandTimeout();
    });
    // A shutdown does not wait for the command to notice its signal.
    const stopped = new Promise<never>((_, reject) => {
      const onAbort = () => {
        if (controller.signal.reason instanceof ShuttingDown) reject(controller.signal.reason);
      };
      controller.signal.addEventListener("abort", onAbort, { once: true });
      timer.signal.addEventListener("abort", () => controller.signal.removeEventListener("abort", onAbort), { once: true });
    });
    try {
      return await Promise.race([running, expired, stopped]);
    } catch (err) {
      if (err instanceof CommandTimeout) {
        // Ends the command's processes (locally and over SSH); its late result is dropped.
        controller.abort(err);
      }
      if (err instanceof CommandTimeout || err instanceof ShuttingDown) running.catch(() => undefined);
      throw err;
    } finally {
      timer.abort();
      expired.catch(() => undefined);
    }
  }

  private context(message: IncomingMessage, sender: Person, t: Translate, signal: AbortSignal, deadline: number): Context {
    const { hosts, store, config, clock, log, commands } = this.deps;
    return {
      message,
      sender,
      lang: sender.language,
      t,
      hosts,
      store,
      config,
      clock,
      log,
      commands,
      services: this.deps.services ?? {},
      deadline,
      signal,
      exec: { signal },
    };
  }
}

function describeArgIssue(issue: z.core.$ZodIssue, t: Translate): string {
  const field = issue.path.map(String).join(".") || "?";
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "invalid_type" && input === undefined) return t("args.required", { field });
  if (isMessageKey(issue.message)) {
    const params = (issue as { params?: Record<string, string | number> }).params ?? {};
    const value = typeof input === "string" || typeof input === "number" ? String(input) : "";
    return t(issue.message, { field, value: echo(value), ...params });
  }
  return t("args.bad", { field });
}
