/**
 * A chat command is one small module: a name, who may run it, a zod schema for its arguments,
 * and `run`. Everything around it — parsing, roles, limits, validation, confirmation, the
 * restart guard, timeout, reply, audit — is the pipeline's job (src/pipeline/steps/), so a
 * command contains only what it does and declares what it is: `scope`, `destructive` with its
 * `plan()`, and `restarts` for the guard.
 *
 * @example
 * export default defineCommand({
 *   name: "restart",
 *   summary: { id: "Restart aplikasi PM2", en: "Restart a PM2 app" },
 *   usage: "<app> [host]",
 *   role: "operator",
 *   args: z.object({ app: appName, host: hostName.optional() }),
 *   positional: ["app", "host"],
 *   async run(ctx, { app, host }) { ... return ctx.t("restart.done", {...}); },
 * });
 */
import type { z } from "zod";
import type { Role } from "../config/schema.js";
import type { Lang } from "../i18n/index.js";
import type { Context } from "./context.js";

/**
 * What a command answers: text, and the host it acted on (for the audit log). A command that
 * changed something may add what it changed: `audit` goes into the audit row's arguments (e.g.
 * `{ before, after, result }`), `timeline` onto an incident's timeline (as an action, by the
 * sender), and `failed` makes the outcome `error` (it ran, and did not do what was asked: a fix
 * that was rolled back).
 */
export type Reply =
  | string
  | { text: string; host?: string; audit?: Record<string, unknown>; timeline?: { incident: number; detail: string }; failed?: boolean };

export interface CommandSpec<A extends z.ZodObject> {
  name: string;
  aliases?: readonly string[];
  summary: Record<Lang, string>;
  /** The arguments part of the usage line, e.g. `<app> [lines] [host]`. */
  usage?: string;
  role: Role;
  /**
   * The role this call needs when some of its forms need more than `role` (`/dns check` is an
   * operator's, `/dns fix` an admin's), from its arguments as `parse` gave them (before
   * validation; a confirmed plan's validated ones). `commands.<name>.role` in the config still
   * replaces it for every form.
   */
  roleFor?: (args: Record<string, unknown>) => Role;
  args: A;
  /** Token i goes to key `positional[i]`; more tokens than keys is "too many arguments". */
  positional?: readonly string[];
  /** Overrides `positional` when tokens need interpreting (e.g. a number or a host name). */
  parse?: (tokens: string[], ctx: Context) => Record<string, unknown> | "too_many";
  /** Overrides the config's `commandTimeout`. */
  timeoutMs?: number;
  /** What a call acts on: one app, one host, or every host. Default `none` (reads, settings). */
  scope?: (args: z.output<A>) => Scope;
  /**
   * A command that changes something that cannot be taken back. `plan` says exactly what this
   * call would change; the pipeline shows it with a code and runs the command only after the
   * same person's `/yes <code>`. `null` from `plan`: this call needs no confirmation (a restart
   * of a single instance).
   */
  destructive?: { plan(ctx: Context, args: z.output<A>): Promise<string | null> };
  /**
   * The app this call restarts, for the restart guard (src/pipeline/steps/guard.ts); an
   * `args.force` of true is an admin's way past it.
   */
  restarts?: (args: z.output<A>) => string | null;
  run(ctx: Context, args: z.output<A>): Promise<Reply>;
}

export type Scope = "none" | "app" | "host" | "fleet";

export interface Command {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly summary: Record<Lang, string>;
  readonly usage: string;
  readonly role: Role;
  /** The role this call needs (see {@link CommandSpec.roleFor}); `role` when the spec has none. */
  roleFor(args: Record<string, unknown>): Role;
  readonly timeoutMs?: number;
  readonly schema: z.ZodObject;
  /** True when some calls need a confirmation (see {@link CommandSpec.destructive}). */
  readonly destructive: boolean;
  toRaw(tokens: string[], ctx: Context): Record<string, unknown> | "too_many";
  scope(args: Record<string, unknown>): Scope;
  /** The confirmation text for this call, or null when it needs none. */
  plan(ctx: Context, args: Record<string, unknown>): Promise<string | null>;
  restarts(args: Record<string, unknown>): string | null;
  run(ctx: Context, args: Record<string, unknown>): Promise<Reply>;
}

export function defineCommand<A extends z.ZodObject>(spec: CommandSpec<A>): Command {
  const positional = spec.positional ?? [];
  return {
    name: spec.name,
    aliases: spec.aliases ?? [],
    summary: spec.summary,
    usage: spec.usage ? `/${spec.name} ${spec.usage}` : `/${spec.name}`,
    role: spec.role,
    roleFor: (args) => spec.roleFor?.(args) ?? spec.role,
    timeoutMs: spec.timeoutMs,
    schema: spec.args,
    toRaw(tokens, ctx) {
      if (spec.parse) return spec.parse(tokens, ctx);
      if (tokens.length > positional.length) return "too_many";
      return Object.fromEntries(tokens.map((t, i) => [positional[i]!, t]));
    },
    destructive: spec.destructive !== undefined,
    scope: (args) => spec.scope?.(args as z.output<A>) ?? "none",
    plan: async (ctx, args) => (spec.destructive ? spec.destructive.plan(ctx, args as z.output<A>) : null),
    restarts: (args) => spec.restarts?.(args as z.output<A>) ?? null,
    run: (ctx, args) => spec.run(ctx, args as z.output<A>),
  };
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `role` may run what needs `needed`. */
export function allows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
