/**
 * Real `jaga start` processes for the standby tests: each with its own home (jaga.yaml and data
 * directory) under one temporary directory, `standby:` configured, the shared lease in the
 * PostgreSQL of a test stack (test/helpers/supabase-stack.ts) through PostgREST or a direct
 * connection, JAGA_TRANSPORT=whatsapp against a loopback WhatsApp stand-in. An observer samples
 * every running instance's /health and the stand-in's open sockets every 50 ms and records each
 * time two instances of one lease said "active", or the stand-in had two sockets open.
 *
 * The caller removes the directory and stops the stack; `killAll()` in its `after` reaps what a
 * failed test left running (and the reaper does, should the test process die first).
 *
 * @example
 * const fleet = new JagaFleet(dir, () => stack);
 * const a = await fleet.spawn("a", { lease: "l", ttlS: 3, whatsapp: `whatsapp: { url: "${wa.url}" }` });
 * const observer = fleet.observe(() => wa.open);
 * observer.start();
 * await until("one active", () => activeOf([a]).length === 1);
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, TSX } from "./pm2.js";
import { reapOnExit } from "./reaper.js";
import { freePort } from "./sshd.js";
import type { SupabaseStack } from "./supabase-stack.js";

/** The alert group every instance's jaga.yaml names. */
export const ALERT_GROUP = "120363000000000001@g.us";

export interface Health {
  standby: { role: string; instance: string; epoch: number | null; holder: { instance: string; silent: boolean } | null; instances: { instance: string; role: string }[] } | null;
  reasons: string[];
}

export interface JagaInstance {
  name: string;
  /** The lease it shares: "one active at a time" is per lease. */
  lease: string;
  /** Its jaga.yaml and data directory (`data/`). */
  home: string;
  port: number;
  child: ChildProcessWithoutNullStreams;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  health?: Health;
}

export interface SpawnOptions {
  lease: string;
  /** How it reaches the lease's database (default PostgREST). */
  via?: "postgrest" | "direct";
  ttlS: number;
  /** JAGA_DATABASE_URL for "direct" (default: the stack's). */
  databaseUrl?: string;
  /** The `whatsapp:` line: its url a loopback stand-in's. */
  whatsapp: string;
  /** Replaces the default `watch: { enabled: false }` line. */
  watch?: string;
  /** Lines at the end of jaga.yaml. */
  extra?: string[];
  /** Node flags before the CLI (a preload). */
  nodeArgs?: string[];
  /** `standby.poll` (default 300ms); null leaves jaga's own default. */
  poll?: string | null;
  /** `language` (default en); null leaves jaga's own default. */
  language?: string | null;
  /** LOG_LEVEL (default info). Quieter than info it never logs "Jaga started": it is started once /health says a role. */
  logLevel?: "info" | "warn";
  /** More environment. */
  env?: Record<string, string>;
}

/**
 * Waits until `cond` holds, polling every `pollMs` (25 ms); throws after `ms`.
 *
 * @example
 * await until("its socket", () => wa.open === 1, 10_000);
 */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000, pollMs = 25): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The running instances of `list` whose last /health said "active". */
export const activeOf = (list: JagaInstance[]) => list.filter((i) => i.running && i.health?.standby?.role === "active");

/** GET /health of the instance on `port`; undefined while it does not answer. */
async function healthOf(port: number): Promise<Health | undefined> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) })).json()) as Health;
  } catch {
    return undefined;
  }
}

/** Hooks of an observer, each called as it samples. */
export interface ObserveHooks {
  /** An instance's role on /health changed (null: no answer, or no standby), as its answer came. */
  onRole?: (i: JagaInstance, was: string | null, now: string | null) => void;
  /** A sample is complete: the instances running and the stand-in's open sockets. */
  onSample?: (live: JagaInstance[], sockets: number) => void;
}

export class JagaFleet {
  readonly instances: JagaInstance[] = [];

  constructor(
    private readonly dir: string,
    private readonly stack: () => SupabaseStack,
  ) {}

  /** The home of `name` on `lease`: the same one each time it is started again. */
  home(name: string, lease: string): string {
    return join(this.dir, `${name}-${lease}`);
  }

  /** Starts `jaga start` and resolves once it says "Jaga started". */
  async spawn(name: string, o: SpawnOptions): Promise<JagaInstance> {
    const home = this.home(name, o.lease);
    mkdirSync(home, { recursive: true });
    writeFileSync(
      join(home, "jaga.yaml"),
      [
        ...(o.language === null ? [] : [`language: ${o.language ?? "en"}`]),
        `alerts: { group: "${ALERT_GROUP}" }`,
        o.watch ?? "watch: { enabled: false }",
        "digest: { enabled: false }",
        `standby: { name: ${name}, lease: ${o.lease}, ttl: ${o.ttlS}s${o.poll === null ? "" : `, poll: ${o.poll ?? "300ms"}`} }`,
        o.whatsapp,
        "dns: { resolvers: [system] }",
        ...(o.extra ?? []),
        "",
      ].join("\n"),
    );
    const port = await freePort();
    const stack = this.stack();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      JAGA_TRANSPORT: "whatsapp",
      JAGA_DATA_DIR: join(home, "data"),
      JAGA_CONFIG: join(home, "jaga.yaml"),
      JAGA_HTTP_PORT: String(port),
      LOG_LEVEL: o.logLevel ?? "info",
      ...(o.via === "direct" ? { JAGA_DATABASE_URL: o.databaseUrl ?? stack.databaseUrl } : { SUPABASE_URL: stack.url, SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey }),
    };
    // A failpoint only where a scenario arms it (`env`), never from the test run's own environment.
    delete env.JAGA_FAILPOINT;
    Object.assign(env, o.env);
    const child = spawn(process.execPath, ["--import", TSX, ...(o.nodeArgs ?? []), join(ROOT, "src/cli.ts"), "start"], { cwd: home, env });
    reapOnExit({ pid: child.pid });
    const inst: JagaInstance = {
      name,
      lease: o.lease,
      home,
      port,
      child,
      stderr: "",
      exit: new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal }))),
      get running() {
        return child.exitCode === null && child.signalCode === null;
      },
    };
    child.stderr.on("data", (c: Buffer) => (inst.stderr = (inst.stderr + c.toString()).slice(-200_000)));
    this.instances.push(inst);
    const started = o.logLevel === "warn" ? async () => (await healthOf(port))?.standby?.role !== undefined : () => inst.stderr.includes("Jaga started");
    await until(`${name} started`, async () => !inst.running || (await started()), 30_000);
    assert.ok(inst.running, `${name} exited: ${inst.stderr.slice(-2000)}`);
    return inst;
  }

  /** Ends what a scenario left running on `lease` (it failed half-way), so the next one starts alone. */
  async reap(lease: string): Promise<void> {
    const left = this.instances.filter((i) => i.lease === lease && i.running);
    for (const i of left) i.child.kill("SIGKILL");
    await Promise.all(left.map((i) => i.exit));
  }

  /** Ends every instance still running (an `after` hook). */
  async killAll(): Promise<void> {
    for (const i of this.instances) if (i.running) i.child.kill("SIGKILL");
    await Promise.all(this.instances.map((i) => i.exit));
  }

  /** An observer of this fleet and of the stand-in's open sockets (`sockets()`). */
  observe(sockets: () => number, hooks: ObserveHooks = {}): Observer {
    return new Observer(this.instances, sockets, hooks);
  }
}

/** Samples every running instance's /health and the stand-in, checking the invariant each time. */
export class Observer {
  samples = 0;
  violations: string[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly instances: JagaInstance[],
    private readonly sockets: () => number,
    private readonly hooks: ObserveHooks = {},
  ) {}

  start(): void {
    const tick = async () => {
      const live = this.instances.filter((i) => i.running);
      await Promise.all(
        live.map(async (i) => {
          const was = i.health?.standby?.role ?? null;
          i.health = await healthOf(i.port);
          const now = i.health?.standby?.role ?? null;
          if (was !== now) this.hooks.onRole?.(i, was, now);
        }),
      );
      for (const lease of new Set(live.map((i) => i.lease))) {
        const active = live.filter((i) => i.lease === lease && i.running && i.health?.standby?.role === "active").map((i) => i.name);
        if (active.length > 1) this.violations.push(`two active at once on ${lease}: ${active.join(", ")}`);
      }
      const open = this.sockets();
      if (open > 1) this.violations.push(`${open} WhatsApp sockets open at once`);
      this.samples++;
      this.hooks.onSample?.(live, open);
      // A sample under way when stop() came plans no next one.
      if (!this.stopped) this.timer = setTimeout(() => void tick(), 50);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
