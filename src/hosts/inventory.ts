/**
 * The hosts Jaga manages, each with its executor and its PM2, and the one question most
 * commands start with: which host runs this app?
 *
 * @example
 * const { host } = await inventory.findApp("bot-kjp");          // searches every host
 * const { host } = await inventory.findApp("bot-kjp", "stb");   // only that one
 */
import { systemClock, type Clock } from "../clock.js";
import type { HostConfig } from "../config/schema.js";
import { JagaError } from "../errors.js";
import { closest } from "../text.js";
import { Pm2, type Pm2Process } from "../ops/pm2.js";
import { withDeadline } from "./deadline.js";
import type { ExecOptions, Executor } from "./executor.js";

export interface Host {
  readonly name: string;
  readonly config: HostConfig;
  readonly executor: Executor;
  readonly pm2: Pm2;
}

export interface FoundApp {
  host: Host;
  /** The host's whole process list, fetched while looking (saves callers a round trip). */
  processes: Pm2Process[];
}

export type ExecutorFactory = (host: HostConfig) => Executor;

/** A host that could not be asked, and why (its own error: no answer, refused, …). */
export interface Unasked {
  host: string;
  error: unknown;
}

/**
 * "Not found" while some hosts could not be asked: the app may well be on one of them, so this
 * is never "no such app". `failures` carries each silent host's own error; see `findApp` in
 * src/pipeline/host-call.ts, which spells them out in the reader's language.
 */
export class AppNotAsked extends JagaError {
  constructor(
    code: "app.unknown_unasked" | "app.nobody_answered",
    params: { app: string; command: string; where: string; unasked: string },
    readonly failures: readonly Unasked[],
  ) {
    super(code, { ...params, reasons: "" });
    this.name = "AppNotAsked";
  }
}

export class Inventory {
  private readonly byName: Map<string, Host>;

  /** @param clock times the per-host deadlines of {@link findApp}. */
  constructor(
    readonly hosts: readonly Host[],
    private readonly clock: Clock = systemClock,
  ) {
    this.byName = new Map(hosts.map((h) => [h.name, h]));
  }

  static fromConfig(hosts: readonly HostConfig[], makeExecutor: ExecutorFactory, clock?: Clock): Inventory {
    return new Inventory(
      hosts.map((config) => {
        const executor = makeExecutor(config);
        const pm2 = new Pm2({ host: config.name, executor, bin: config.pm2Bin, home: config.pm2Home });
        return { name: config.name, config, executor, pm2 };
      }),
      clock,
    );
  }

  /** The named host, or a "did you mean" error listing the known ones. */
  get(name: string): Host {
    const host = this.byName.get(name) ?? [...this.byName.values()].find((h) => h.name.toLowerCase() === name.toLowerCase());
    if (!host) throw new JagaError("host.unknown", { host: name, hosts: this.hosts.map((h) => h.name).join(", ") });
    return host;
  }

  /**
   * Finds the host that runs `app`. With a host name, only that host is asked; without one,
   * every host is asked in parallel, and an app on two hosts is an error that asks which.
   * `options.timeoutMs` is each host's deadline: a host silent past it counts as not asked.
   *
   * Never "no such app" about a host that did not answer: the named (or only) host failing is
   * that host's own error (`host.no_answer`, `ssh.refused`, …); not found on the hosts that
   * answered while others could not be asked is an {@link AppNotAsked} naming them.
   *
   * @example
   * await inventory.findApp("web", undefined, "restart", { timeoutMs: 8_000, signal });
   */
  async findApp(app: string, hostName: string | undefined, command: string, options: ExecOptions = {}): Promise<FoundApp> {
    const candidates = hostName ? [this.get(hostName)] : this.hosts;
    const results = await Promise.allSettled(candidates.map((h) => withDeadline(h.name, options, this.clock, (o) => h.pm2.list(o))));
    const found: FoundApp[] = [];
    const known: string[] = [];
    const asked: Host[] = [];
    const unasked: Unasked[] = [];
    results.forEach((r, i) => {
      const host = candidates[i]!;
      if (r.status === "rejected") {
        unasked.push({ host: host.name, error: r.reason });
        return;
      }
      asked.push(host);
      known.push(...r.value.map((p) => p.name));
      if (r.value.some((p) => p.name === app)) found.push({ host, processes: r.value });
    });
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new JagaError("app.ambiguous", { app, command, hosts: found.map((f) => f.host.name).join(", ") });
    }
    // One host asked and it failed: that failure is the real answer.
    if (candidates.length === 1 && unasked[0]) throw unasked[0].error;
    if (unasked.length > 0) {
      const params = { app, command, where: names(asked), unasked: names(unasked.map((u) => ({ name: u.host }))) };
      throw new AppNotAsked(asked.length > 0 ? "app.unknown_unasked" : "app.nobody_answered", params, unasked);
    }
    if (known.length === 0 && candidates.length === 1) throw new JagaError("host.no_apps", { host: candidates[0]!.name });
    throw new JagaError("app.unknown", { app, where: names(candidates), suggestions: closest(app, [...new Set(known)]).join(", ") });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.hosts.map((h) => h.executor.close()));
  }
}

/** `*web1*, *stb*`: host names as the messages show them. */
function names(hosts: readonly { name: string }[]): string {
  return hosts.map((h) => `*${h.name}*`).join(", ");
}
