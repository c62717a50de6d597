/**
 * The shape of `jaga.yaml`, validated with zod. Objects are strict: a misspelt key is an error,
 * not a silently ignored setting, and nothing secret has a place here (secrets come from the
 * environment only, see `.env.example`).
 */
import { Cron } from "croner";
import { z } from "zod";
import { parseDuration } from "../duration.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

/** Host and app names travel into argv; keep them to a conservative alphabet. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: "expected a duration such as 30s, 5m, 1h" })
  .transform((v) => parseDuration(v)!);

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
  })
  .superRefine((h, ctx) => {
    if (Boolean(h.local) === Boolean(h.ssh)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of `local: true` or `ssh: {…}`", path: [] });
    }
  });

const watch = z
  .strictObject({
    enabled: z.boolean().default(true),
    interval: duration.default(30_000),
    restartStorm: z
      .strictObject({
        restarts: z.number().int().min(1).default(5),
        within: duration.default(3_600_000),
        fast: z
          .strictObject({ restarts: z.number().int().min(1).default(3), within: duration.default(300_000) })
          .prefault({}),
      })
      .prefault({}),
    cpu: z.strictObject({ percent: z.number().min(1).max(100).default(90), for: duration.default(300_000) }).prefault({}),
    disk: z
      .strictObject({ warning: z.number().min(1).max(100).default(80), critical: z.number().min(1).max(100).default(90) })
      .prefault({}),
    memory: z.strictObject({ percent: z.number().min(1).max(100).default(90) }).prefault({}),
    unreachableAfter: z.number().int().min(1).default(3),
    /** Each host resolves this name every interval; failures open a "DNS broken" incident. */
    dns: z
      .strictObject({ enabled: z.boolean().default(true), name: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/).default("web.whatsapp.com") })
      .prefault({}),
    resolveAfter: duration.default(1_800_000),
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
    connectTimeout: duration.default(20_000),
    /** A command older than this (sent while Jaga was away, or redelivered) is not run. */
    maxCommandAge: duration.default(120_000),
    backoff: z
      .strictObject({ base: duration.default(2_000), cap: duration.default(300_000), resetAfter: duration.default(60_000) })
      .prefault({}),
    breaker: z
      .strictObject({
        failures: z.number().int().min(1).default(10),
        within: duration.default(300_000),
        openFor: duration.default(600_000),
      })
      .prefault({}),
  })
  .prefault({});

/** `system` (the OS resolver) or a DNS server's IP with an optional port: 1.1.1.1, 127.0.0.1:5353, [::1]:53. */
const resolverEntry = z.string().refine(
  (s) => s === "system" || /^(\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$/.test(s) || /^\[?[0-9a-fA-F:]+\]?(:\d{1,5})?$/.test(s),
  { message: "expected \"system\" or an IP address with an optional port" },
);

/** Name resolution for the WhatsApp host when the system resolver fails (report 001). */
const dns = z
  .strictObject({
    resolvers: z.array(resolverEntry).min(1).default(["system", "1.1.1.1", "8.8.8.8"]),
    /** How often resolution is probed while DNS is down (no socket is opened meanwhile). */
    probeInterval: duration.default(1_000),
    /** How long one resolver may take to answer. */
    timeout: duration.default(2_000),
    /** While connected through another resolver, how often the system resolver is asked again. */
    recheckInterval: duration.default(30_000),
  })
  .prefault({});

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
    hosts: z.array(host).min(1).default([{ name: "local", local: true, pm2Bin: "pm2", sudo: false }]),
    watch,
    digest: z.strictObject({ enabled: z.boolean().default(true), cron: cron.default("0 7 * * *") }).prefault({}),
    /** How long one chat command may run before it is stopped. */
    commandTimeout: duration.default(30_000),
    /**
     * How long one host may take to answer one call (inside the command's own time): a silent
     * host costs its own line, "no answer in 8 s", never the whole reply.
     */
    hostTimeout: duration
      .refine((ms) => ms >= 1_000 && ms <= 120_000, { message: "expected a duration from 1s to 2m" })
      .default(8_000),
    whatsapp,
    dns,
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
