/**
 * Loads `jaga.yaml` (path from JAGA_CONFIG, default ./jaga.yaml) and the environment into one
 * typed, frozen {@link Config}. Problems are collected, never thrown one at a time: the admin
 * fixing a config on a phone wants the whole list, each named by its path.
 *
 * @example
 * const result = loadConfig(process.env);
 * if (!result.ok) { console.error(result.problems.join("\n")); process.exit(1); }
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { configSchema, type FileConfig, type HostConfig } from "./schema.js";

const envSchema = z.object({
  JAGA_CONFIG: z.string().default("jaga.yaml"),
  JAGA_DATA_DIR: z.string().default("data"),
  JAGA_TRANSPORT: z.enum(["console", "whatsapp"]).default("console"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  PM2_HOME: z.string().optional(),
  HOME: z.string().optional(),
  /** Health endpoint port on 127.0.0.1; unset: no HTTP server. */
  JAGA_HTTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Bearer token for POST /whatsapp/*; unset: those routes are off. */
  JAGA_HTTP_TOKEN: z.string().min(16, { message: "use at least 16 characters" }).optional(),
  /** Pair WhatsApp by code on this phone number instead of scanning the QR. */
  JAGA_PAIR_PHONE: z.string().regex(/^\+?[\d\s-]{6,20}$/, { message: "expected a phone number, e.g. 6281234567890" }).optional(),
});

export interface Config extends FileConfig {
  hosts: (HostConfig & { pm2Home?: string })[];
  /** Where the config came from, or null when running on defaults. */
  source: string | null;
  dataDir: string;
  transport: "console" | "whatsapp";
  logLevel: z.output<typeof envSchema>["LOG_LEVEL"];
  /** From JAGA_HTTP_PORT / JAGA_HTTP_TOKEN / JAGA_PAIR_PHONE. */
  http?: { port?: number; token?: string };
  pairPhone?: string;
}

export type LoadResult = { ok: true; config: Config } | { ok: false; source: string; problems: string[] };

export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): LoadResult {
  const envParsed = envSchema.safeParse(env, { reportInput: true });
  if (!envParsed.success) {
    return { ok: false, source: "environment", problems: envParsed.error.issues.map((i) => formatIssue(i, "env ")) };
  }
  const e = envParsed.data;
  const path = resolve(cwd, e.JAGA_CONFIG);
  const explicit = env.JAGA_CONFIG !== undefined;
  let raw: unknown = {};
  let source: string | null = null;
  if (existsSync(path)) {
    source = path;
    const doc = parseDocument(readFileSync(path, "utf8"), { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      return { ok: false, source: path, problems: doc.errors.map((err) => `yaml: ${err.message.split("\n")[0]}`) };
    }
    raw = doc.toJS() ?? {};
  } else if (explicit) {
    return { ok: false, source: path, problems: [`JAGA_CONFIG: no file at ${e.JAGA_CONFIG}`] };
  }
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) return { ok: false, source: path, problems: parsed.error.issues.map((i) => formatIssue(i)) };

  const home = e.HOME ?? homedir();
  const hosts = parsed.data.hosts.map((h) =>
    h.local ? { ...h, pm2Home: expandHome(h.pm2Home ?? e.PM2_HOME ?? join(home, ".pm2"), home) } : h,
  );
  const dataDir = isAbsolute(e.JAGA_DATA_DIR) ? e.JAGA_DATA_DIR : resolve(cwd, e.JAGA_DATA_DIR);
  return {
    ok: true,
    config: Object.freeze({ ...parsed.data, hosts, source, dataDir, transport: e.JAGA_TRANSPORT, logLevel: e.LOG_LEVEL, http: { port: e.JAGA_HTTP_PORT, token: e.JAGA_HTTP_TOKEN }, pairPhone: e.JAGA_PAIR_PHONE?.replace(/\D/g, "") }),
  };
}

function expandHome(p: string, home: string): string {
  return p === "~" ? home : p.startsWith("~/") ? join(home, p.slice(2)) : p;
}

/** `hosts[0].ssh.port: expected a number` */
export function formatIssue(issue: z.core.$ZodIssue, prefix = ""): string {
  const path = issue.path.reduce<string>(
    (acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)),
    "",
  );
  return `${prefix}${path || "(top level)"}: ${describeIssue(issue)}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined ? `required (${article(issue.expected)})` : `expected ${article(issue.expected)}`;
    case "unrecognized_keys":
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return issue.message.startsWith("Invalid input") ? "expected a different type here" : issue.message;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  const names: Record<string, string> = { number: "a number", string: "text", boolean: "true or false", array: "a list", object: "a mapping" };
  return names[type] ?? `a ${type}`;
}
