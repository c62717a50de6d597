/**
 * The shape of `jaga.yaml`, validated with zod. Objects are strict: a misspelt key is an error,
 * not a silently ignored setting, and nothing secret has a place here (secrets come from the
 * environment only, see `.env.example`).
 */
import { isIP } from "node:net";
import { Cron } from "croner";
import { z } from "zod";
import { parseResolver } from "../dns/resolvers.js";
import { parseDuration } from "../duration.js";
import { closest, redact } from "../text.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

/** Host and app names travel into argv; keep them to a conservative alphabet. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Where a duration may lie, and why: the reason is part of the message that refuses it. */
interface Bounds {
  min: number;
  max: number;
  /** Why not shorter. */
  low: string;
  /** Why not longer. */
  high: string;
}

/**
 * A duration (`30s`, `5m`, `1h`, or seconds as a number) inside `bounds`. Zero or a day where
 * a second is meant is refused: `watch.interval: 0` would keep a core busy.
 *
 * @example
 * duration({ min: 1_000, max: 3_600_000, low: "…", high: "…" }).default(30_000).parse("5m"); // 300000
 */
function duration(bounds: Bounds) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `expected a duration such as 30s, 5m, 1h (got ${shown(v)})` });
      return z.NEVER;
    }
    if (ms < bounds.min) ctx.addIssue({ code: "custom", message: `must be at least ${exactDuration(bounds.min)} (got ${exactDuration(ms)}): ${bounds.low}` });
    else if (ms > bounds.max) ctx.addIssue({ code: "custom", message: `must be at most ${exactDuration(bounds.max)} (got ${exactDuration(ms)}): ${bounds.high}` });
    return ms;
  });
}

/**
 * A whole number inside [min, max], with the reason in the refusal.
 *
 * @example
 * count(1, 1000, "…").default(5).parse(3); // 3
 */
function count(min: number, max: number, why: string) {
  return z
    .number()
    .int({ message: "must be a whole number" })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}: ${why}` });
}

const percent = z.number().min(1, { message: "must be a percentage from 1 to 100" }).max(100, { message: "must be a percentage from 1 to 100" });

/** A cross-check between two keys says nothing new when one of them is already refused. */
const fieldsValid = (payload: { issues: readonly unknown[] }) => payload.issues.length === 0;

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/**
 * `1500ms`, `2s`, `5m`, `1h`, `7d`: exact, unlike formatDuration, so a message never says
 * "at least 1s (got 1s)" about 500 ms.
 *
 * @example
 * exactDuration(90_000); // "90s"
 */
export function exactDuration(ms: number): string {
  for (const [unit, size] of [["d", D], ["h", H], ["m", M], ["s", S]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? "0s" : `${ms}ms`;
}

/**
 * A value the user wrote, quoted, bounded and masked for a message.
 *
 * @example
 * shown("root"); // '"root"'
 */
export function shown(v: unknown): string {
  const text = typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 39)}…` : v) : JSON.stringify(v) ?? String(v);
  return redact(text);
}

/** `+62 812-3456-7890`, `0812 3456 7890` and `6281234567890` are the same person. */
export function normalizePhone(raw: string): string {
  const digits = raw.replace(/[\s\-().+]/g, "");
  return digits.startsWith("0") ? `62${digits.slice(1)}` : digits;
}

const phone = z
  .union([
    z.string(),
    // YAML reads an unquoted 0812… as a number and drops the 0; refuse rather than guess.
    z.number().refine((n) => String(n).startsWith("62"), { message: 'write the phone number in quotes, e.g. "0812…" (YAML drops a leading 0)' }),
  ])
  .transform((v) => normalizePhone(String(v)))
  .refine((v) => /^\d{6,15}$/.test(v), { message: "expected a phone number in international form, e.g. 6281234567890" });

const language = z.enum(["id", "en"]);

const person = z.strictObject({
  phone,
  name: z.string().min(1).max(64),
  role: roleSchema,
  language: language.optional(),
});

const sshTarget = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1),
  /** Path to a private key file; its passphrase, if any, comes from the environment. */
  privateKeyPath: z.string().min(1).optional(),
  /** Use the ssh-agent at SSH_AUTH_SOCK. */
  agent: z.boolean().default(false),
  /** Pinned host key: the SHA256 fingerprint as `ssh-keygen -lf` prints it. */
  hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, { message: "expected a fingerprint like SHA256:abc…" }).optional(),
}).refine((t) => t.agent || t.privateKeyPath !== undefined, {
  // No passwords: a key file (passphrase from JAGA_SSH_PASSPHRASE[_<HOST>]) or the agent.
  message: "set `privateKeyPath` or `agent: true` (passwords are not supported)",
});

/** A path on a host: absolute, one line (it travels as one argv element). */
const hostPath = z
  .string()
  .refine((p) => p.startsWith("/") && !/[\0\n\r]/.test(p) && p.length <= 4096, { message: "expected an absolute path such as /etc/resolv.conf" });

/**
 * Where a host keeps what `/dns check` reads and `/dns fix` changes. Configurable so a box
 * with an odd layout can say so, and so tests work on temporary files.
 */
const hostPaths = z
  .strictObject({
    /** What glibc reads for its nameservers. */
    resolvConf: hostPath.default("/etc/resolv.conf"),
    /** systemd-resolved's drop-in directory, for `/dns fix --persist`. */
    resolvedDropIn: hostPath.default("/etc/systemd/resolved.conf.d"),
  })
  .prefault({});

/** The default of `hosts[].paths`. */
export const DEFAULT_HOST_PATHS = { resolvConf: "/etc/resolv.conf", resolvedDropIn: "/etc/systemd/resolved.conf.d" } as const;

const host = z
  .strictObject({
    name: z.string().regex(NAME_RE, { message: "expected letters, digits, . _ - (at most 64)" }),
    local: z.literal(true).optional(),
    ssh: sshTarget.optional(),
    /** PM2_HOME on that host. Local default: $PM2_HOME or ~/.pm2. */
    pm2Home: z.string().min(1).optional(),
    /** The pm2 executable; set a full path when pm2 comes from nvm (not on a non-login PATH). */
    pm2Bin: z.string().min(1).default("pm2"),
    /** Run privileged fixes through `sudo -n`. */
    sudo: z.boolean().default(false),
    paths: hostPaths,
  })
  .superRefine((h, ctx) => {
    if (Boolean(h.local) === Boolean(h.ssh)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of `local: true` or `ssh: {…}`", path: [] });
    }
  });

const watch = z
  .strictObject({
    enabled: z.boolean().default(true),
    interval: duration({ min: S, max: H, low: "checking more often keeps a CPU core busy", high: "a failure would go unnoticed that long" }).default(30 * S),
    /** How often PM2's process list is read from its socket (restarts, statuses); see watcher.ts. */
    pm2Interval: duration({ min: S, max: M, low: "asking the daemon more often costs more than it tells", high: "a restart storm would go unnoticed that long" }).default(2 * S),
    restartStorm: z
      .strictObject({
        restarts: count(1, 1000, "a storm that large is noticed long before").default(5),
        within: duration({ min: M, max: 7 * D, low: "too short a window to tell a storm from one restart", high: "restart counts older than a week say nothing about now" }).default(H),
        fast: z
          .strictObject({
            restarts: count(1, 1000, "a storm that large is noticed long before").default(3),
            within: duration({ min: 10 * S, max: D, low: "too short a window to tell a storm from one restart", high: "that is not fast" }).default(5 * M),
          })
          .prefault({}),
      })
      .prefault({}),
    cpu: z
      .strictObject({
        percent: percent.default(90),
        for: duration({ min: 0, max: D, low: "", high: "a CPU alert a day late is no alert" }).default(5 * M),
      })
      .prefault({}),
    disk: z
      .strictObject({ warning: percent.default(80), critical: percent.default(90) })
      .refine((d) => d.warning < d.critical, { message: "`warning` must be below `critical`", path: ["warning"], when: fieldsValid })
      .prefault({}),
    memory: z.strictObject({ percent: percent.default(90) }).prefault({}),
    unreachableAfter: count(1, 100, "a host would be down for hours before anyone hears of it").default(3),
    /** Each host resolves this name every interval; failures open a "DNS broken" incident. */
    dns: z
      .strictObject({
        enabled: z.boolean().default(true),
        name: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, { message: "expected a host name such as web.whatsapp.com" }).default("web.whatsapp.com"),
      })
      .prefault({}),
    resolveAfter: duration({ min: 10 * S, max: 7 * D, low: "an incident would resolve and reopen on every flicker", high: "an incident would stay open a week after it ended" }).default(30 * M),
    /** An app stopped, errored (PM2 gave up) or missing for `grace` is down; back once online for `upFor`. */
    appDown: z
      .strictObject({
        grace: duration({ min: 10 * S, max: H, low: "a deploy or a `pm2 restart` would open an incident", high: "an app would be down that long before anyone hears of it" }).default(M),
        upFor: duration({ min: 10 * S, max: H, low: "an app that dies a little after each start would look back", high: "an app back for that long is back" }).default(M),
      })
      .prefault({}),
    /**
     * Apps that must always run, down even if Jaga never saw them online: `bot-kjp` on every
     * host, `bot-kjp@stb` on that host only.
     */
    apps: z
      .array(
        z.string().refine(
          (s) => {
            const [app, host, ...rest] = s.split("@");
            return rest.length === 0 && NAME_RE.test(app!) && (host === undefined || NAME_RE.test(host));
          },
          { message: "expected an app name, or app@host (letters, digits, . _ -, at most 64 each)" },
        ),
      )
      .default([]),
  })
  .prefault({});

const cron = z.string().refine(
  (expr) => {
    try {
      new Cron(expr, { paused: true }).stop();
      return true;
    } catch {
      return false;
    }
  },
  { message: "expected a cron expression such as `0 7 * * *`" },
);

/** Baileys' own WebSocket URL (DEFAULT_CONNECTION_CONFIG.waWebSocketUrl; a test keeps them equal). */
export const WHATSAPP_DEFAULT_URL = "wss://web.whatsapp.com/ws/chat";

/** The WhatsApp connection: where, and how patiently to reconnect (see src/reconnect/). */
const whatsapp = z
  .strictObject({
    /** Tests and benchmarks point this at loopback. */
    url: z
      .string()
      .refine((u) => /^wss?:\/\/[^\s/]+/.test(u), { message: "expected a ws:// or wss:// URL" })
      .default(WHATSAPP_DEFAULT_URL),
    connectTimeout: duration({ min: S, max: 5 * M, low: "a WhatsApp handshake takes longer than that on a slow line", high: "a hung connect would block reconnecting that long" }).default(20 * S),
    /** A command older than this (sent while Jaga was away, or redelivered) is not run. */
    maxCommandAge: duration({ min: 10 * S, max: D, low: "a command typed during a short reconnect would be refused", high: "a day-old /restart must not run" }).default(2 * M),
    /** Per-chat send budget (src/chat/pacing.ts): bursts become one message, nothing is dropped. */
    pacing: z
      .strictObject({
        interval: duration({ min: 500, max: M, low: "bursts faster than that are what WhatsApp rate-limits and bans", high: "alerts would queue up for minutes" }).default(3 * S),
        dailyBudget: count(10, 10_000, "a busy morning would hold alerts until tomorrow").default(300),
      })
      .prefault({}),
    backoff: z
      .strictObject({
        base: duration({ min: 100, max: M, low: "retrying faster is the tight reconnect loop of report 001", high: "the first retry would wait too long" }).default(2 * S),
        cap: duration({ min: S, max: H, low: "retrying faster is the tight reconnect loop of report 001", high: "WhatsApp would stay away that long after an outage" }).default(5 * M),
        resetAfter: duration({ min: S, max: H, low: "a flapping connection would never back off", high: "one good hour is enough to forget old failures" }).default(60 * S),
      })
      .refine((b) => b.cap >= b.base, { message: "`cap` must not be below `base`", path: ["cap"], when: fieldsValid })
      .prefault({}),
    breaker: z
      .strictObject({
        failures: count(1, 1000, "the breaker would never open").default(10),
        within: duration({ min: S, max: D, low: "too short to count failures in", high: "failures a day old say nothing about now" }).default(5 * M),
        openFor: duration({ min: S, max: D, low: "an open breaker must give the other side a rest", high: "WhatsApp would stay away that long" }).default(10 * M),
      })
      .prefault({}),
  })
  .prefault({});

/**
 * `system` (the OS resolver) or a DNS server: IPv4 or `[IPv6]`, with an optional port. The same
 * parser the WhatsApp transport uses, so a typo is a config error here, never an entry dropped there.
 */
const resolverEntry = z.string().superRefine((s, ctx) => {
  if (parseResolver(s)) return;
  const hint = closest(s, ["system"], 1).length > 0 ? ' (did you mean "system"?)' : "";
  ctx.addIssue({ code: "custom", message: `expected "system" or a DNS server such as 1.1.1.1, 127.0.0.1:5353, [::1]:53 (got ${shown(s)})${hint}` });
});

/**
 * A nameserver `/dns fix` may write into a host's resolv.conf: a bare IPv4 or IPv6 address.
 * glibc's resolv.conf has no port field (and no brackets), so `1.1.1.1:53` is refused here
 * rather than written into a file the resolver would then misread.
 */
const candidateEntry = z.string().superRefine((s, ctx) => {
  if (isIP(s) !== 0) return;
  const spec = parseResolver(s);
  const why =
    spec?.kind === "server"
      ? " — write the address alone: resolv.conf has no port field, nor brackets"
      : "";
  ctx.addIssue({ code: "custom", message: `expected a DNS server address such as 1.1.1.1 or 2606:4700:4700::1111 (got ${shown(s)})${why}` });
});

/**
 * Name resolution: `resolvers` is Jaga's OWN lookup for WhatsApp when the system resolver fails
 * (report 001); `candidates` are what `/dns check` times from each host and `/dns fix` may
 * write into a host's resolver configuration — two different things.
 */
const dns = z
  .strictObject({
    /** Nameservers a host may be switched to (in this order); glibc reads at most three. */
    candidates: z
      .array(candidateEntry)
      .min(1, { message: "must list at least one nameserver, e.g. [1.1.1.1]" })
      .max(3, { message: "must list at most 3: glibc reads only the first three nameserver lines" })
      .refine((list) => new Set(list).size === list.length, { message: "lists the same nameserver twice" })
      .default(["1.1.1.1", "8.8.8.8"]),
    resolvers: z.array(resolverEntry).min(1, { message: 'must list at least one resolver, e.g. [system]' }).default(["system", "1.1.1.1", "8.8.8.8"]),
    /** How often resolution is probed while DNS is down (no socket is opened meanwhile). */
    probeInterval: duration({ min: 100, max: 5 * M, low: "probing faster floods the resolvers", high: "WhatsApp would stay down that long after DNS is back" }).default(S),
    /** How long one resolver may take to answer. */
    timeout: duration({ min: 100, max: M, low: "a resolver across the world needs longer", high: "a dead resolver would hold every probe that long" }).default(2 * S),
    /** While connected through another resolver, how often the system resolver is asked again. */
    recheckInterval: duration({ min: S, max: D, low: "asking more often gains nothing", high: "a mended system resolver would go unnoticed that long" }).default(30 * S),
  })
  .prefault({});

/**
 * Stopping (SIGTERM/SIGINT): `budget` is the whole stop, from the signal to the exit, whatever
 * the hosts do. Running commands get most of it, then are aborted; the rest closes hosts,
 * watchers, the outbox and the store. Keep PM2's `kill_timeout` (ecosystem.config.cjs) and
 * systemd's `TimeoutStopSec` above it.
 */
const shutdown = z
  .strictObject({
    budget: duration({ min: S, max: 2 * M, low: "running commands and the outbox need a moment", high: "PM2 and systemd would wait that long for a stop" }).default(10 * S),
  })
  .prefault({});

/**
 * What one person, and everyone together, may ask of Jaga (src/pipeline/steps/limit.ts and
 * guard.ts). The console is never rate-limited; the restart guard holds for it too.
 */
const limits = z
  .strictObject({
    /** Commands one person may send in a minute; the next is answered once with when to try again. */
    commandsPerMinute: count(1, 1000, "a runaway script would get that many commands through").default(10),
    /** Commands of one person running at once. */
    inFlightPerSender: count(1, 50, "one person would hold every host").default(3),
    /** Commands running at once, everyone together. */
    inFlight: count(1, 500, "a 2 GB box would run out of memory first").default(16),
    /** Restarts of one app through Jaga within `restartWindow`; more need an admin's `--force`. */
    restartsPerApp: count(1, 100, "Jaga would be the restart storm").default(3),
    restartWindow: duration({ min: M, max: D, low: "a storm would slip through between windows", high: "an app fixed this morning would stay guarded all day" }).default(10 * M),
  })
  .prefault({});

/** A destructive command waits this long for its `/yes <code>` (src/pipeline/confirmations.ts). */
const confirm = z
  .strictObject({
    within: duration({ min: 10 * S, max: 10 * M, low: "nobody can read a plan and reply that fast on a phone", high: "a plan that old no longer says what would change" }).default(60 * S),
  })
  .prefault({});

/**
 * Standby (src/standby/): two or more instances of one Jaga share a lease in PostgreSQL; the one
 * holding it is active (WhatsApp, alerts, commands), the others watch and take over. Present =
 * on; it needs JAGA_DATABASE_URL or SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY.
 */
const standby = z
  .strictObject({
    /** This instance's name, as the others and the takeover message call it. Default: the host name. */
    name: z.string().regex(NAME_RE, { message: "expected letters, digits, . _ - (at most 64)" }).optional(),
    /** The lease every instance of this Jaga shares (one name per Jaga, not per instance). */
    lease: z.string().regex(NAME_RE, { message: "expected letters, digits, . _ - (at most 64)" }).default("jaga"),
    /** How long a lease lasts unrenewed: a dead active instance is replaced this long after its last renewal. */
    ttl: duration({ min: 3 * S, max: 5 * M, low: "a renewal every ttl/3 must survive a slow database round trip", high: "alerts would wait that long after the active box dies" }).default(15 * S),
    /** How often a standby asks whether the lease is free (a handover is taken within this). */
    poll: duration({ min: 200, max: 10 * S, low: "asking more often only loads the database", high: "a handover would wait that long" }).default(S),
  })
  .optional();

/**
 * Heartbeat (Healthchecks-style): without a standby nobody notices that Jaga itself is gone. The
 * URL is pinged every `every`; on a fatal exit `<url>/fail` is.
 */
const heartbeat = z
  .strictObject({
    url: z.string().refine((u) => /^https?:\/\/[^\s/]+/.test(u), { message: "expected an http:// or https:// URL, e.g. https://hc-ping.com/<uuid>" }).optional(),
    every: duration({ min: 10 * S, max: H, low: "a ping service counts minutes, not seconds", high: "a dead Jaga would go unnoticed that long" }).default(M),
  })
  .prefault({});

/**
 * Per-command rules: `role` replaces the command's own (`restart: { role: admin }`); `people`
 * names exactly who may run it (by name or phone, as under `people`), whatever their role.
 * The command names are checked against the commands Jaga has when it starts.
 */
const commandRule = z
  .strictObject({
    role: roleSchema.optional(),
    people: z.array(z.string().min(1).max(64)).min(1, { message: "list at least one person, or leave `people` out" }).optional(),
  })
  .refine((r) => r.role !== undefined || r.people !== undefined, { message: "set `role` or `people`" });
const commandRules = z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { message: "expected a command name such as restart" }), commandRule).default({});

export const configSchema = z
  .strictObject({
    language: language.default("id"),
    timezone: z
      .string()
      .refine(isTimeZone, { message: "expected an IANA time zone such as Asia/Jakarta" })
      .default("Asia/Jakarta"),
    people: z.array(person).default([]),
    alerts: z
      .strictObject({ group: z.string().regex(/^[\d-]+@g\.us$/, { message: "expected a WhatsApp group id ending in @g.us" }).optional() })
      .prefault({}),
    hosts: z.array(host).min(1).default([{ name: "local", local: true, pm2Bin: "pm2", sudo: false, paths: { ...DEFAULT_HOST_PATHS } }]),
    watch,
    digest: z.strictObject({ enabled: z.boolean().default(true), cron: cron.default("0 7 * * *") }).prefault({}),
    /** How long one chat command may run before it is stopped. */
    commandTimeout: duration({ min: S, max: 10 * M, low: "even a local pm2 call takes longer", high: "a stuck command would hold its host that long" }).default(30 * S),
    /**
     * How long one host may take to answer one call (inside the command's own time): a silent
     * host costs its own line, "no answer in 8 s", never the whole reply.
     */
    hostTimeout: duration({ min: S, max: 2 * M, low: "an SSH round trip on a slow link takes longer", high: "a silent host would hold every reply that long" }).default(8 * S),
    shutdown,
    whatsapp,
    dns,
    limits,
    confirm,
    commands: commandRules,
    standby,
    heartbeat,
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.hosts.forEach((h, i) => {
      if (seen.has(h.name)) ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name "${h.name}"` });
      seen.set(h.name, i);
    });
    const phones = new Set<string>();
    c.people.forEach((p, i) => {
      if (phones.has(p.phone)) ctx.addIssue({ code: "custom", path: ["people", i, "phone"], message: "duplicate phone number" });
      phones.add(p.phone);
    });
    c.watch.apps.forEach((entry, i) => {
      const [, host, ...rest] = entry.split("@");
      // A malformed entry already has its own refusal.
      if (host !== undefined && rest.length === 0 && NAME_RE.test(host) && !c.hosts.some((h) => h.name === host)) {
        ctx.addIssue({ code: "custom", path: ["watch", "apps", i], message: `host "${host}" is not listed under \`hosts\`` });
      }
    });
    for (const [name, rule] of Object.entries(c.commands)) {
      rule.people?.forEach((who, i) => {
        const known = c.people.some((p) => p.name === who || p.phone === normalizePhone(who));
        if (!known) ctx.addIssue({ code: "custom", path: ["commands", name, "people", i], message: `${shown(who)} is not listed under \`people\`` });
      });
    }
  });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export type FileConfig = z.output<typeof configSchema>;
export type HostConfig = FileConfig["hosts"][number];
export type PersonConfig = FileConfig["people"][number];
export type WatchConfig = FileConfig["watch"];
