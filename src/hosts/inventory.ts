/**
 * The hosts Jaga manages, each with its executor and its PM2, and the one question most
 * commands start with: which host runs this app?
 *
 * @example
 * const { host } = await inventory.findApp("bot-kjp");          // searches every host
 * const { host } = await inventory.findApp("bot-kjp", "stb");   // only that one
 */
import type { HostConfig } from "../config/schema.js";
import { JagaError } from "../errors.js";
import { closest } from "../text.js";
import { Pm2, type Pm2Process } from "../ops/pm2.js";
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

export class Inventory {
  private readonly byName: Map<string, Host>;

  constructor(readonly hosts: readonly Host[]) {
    this.byName = new Map(hosts.map((h) => [h.name, h]));
  }

  static fromConfig(hosts: readonly HostConfig[], makeExecutor: ExecutorFactory): Inventory {
    return new Inventory(
      hosts.map((config) => {
        const executor = makeExecutor(config);
        const pm2 = new Pm2({ host: config.name, executor, bin: config.pm2Bin, home: config.pm2Home });
        return { name: config.name, config, executor, pm2 };
      }),
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
   */
  async findApp(app: string, hostName: string | undefined, command: string, options: ExecOptions = {}): Promise<FoundApp> {
    const candidates = hostName ? [this.get(hostName)] : this.hosts;
    const results = await Promise.allSettled(candidates.map((h) => h.pm2.list(options)));
    const found: FoundApp[] = [];
    const known: string[] = [];
    results.forEach((r, i) => {
      if (r.status !== "fulfilled") return;
      known.push(...r.value.map((p) => p.name));
      if (r.value.some((p) => p.name === app)) found.push({ host: candidates[i]!, processes: r.value });
    });
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new JagaError("app.ambiguous", { app, command, hosts: found.map((f) => f.host.name).join(", ") });
    }
    // Not found: if every host we asked failed, that failure is the real answer.
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length === results.length && failures[0]) throw failures[0].reason;
    if (known.length === 0 && candidates.length === 1) throw new JagaError("host.no_apps", { host: candidates[0]!.name });
    const where = hostName ? `*${candidates[0]!.name}*` : candidates.map((h) => `*${h.name}*`).join(", ");
    throw new JagaError("app.unknown", { app, where, suggestions: closest(app, [...new Set(known)]).join(", ") });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.hosts.map((h) => h.executor.close()));
  }
}
