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
import { closest } from "../text.js";
import { configSchema, shown, type FileConfig, type HostConfig } from "./schema.js";

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
    return { ok: false, source: "environment", problems: envParsed.error.issues.flatMap((i) => formatIssue(i, "env ")) };
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
  if (!parsed.success) return { ok: false, source: path, problems: parsed.error.issues.flatMap((i) => formatIssue(i, "", configSchema)) };

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

/**
 * A problem as a person reads it: the path, what is wanted, and what was written; one line per
 * unknown key. With `schema`, an unknown key gets the nearest known key as a suggestion.
 *
 * @example
 * formatIssue(issue, "", configSchema); // ['people[1].role: must be one of viewer, operator, admin (got "root")']
 */
export function formatIssue(issue: z.core.$ZodIssue, prefix = "", schema?: z.ZodType): string[] {
  const path = issue.path.reduce<string>(
    (acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)),
    "",
  );
  if (issue.code === "unrecognized_keys") {
    const known = schema ? keysAt(schema, issue.path) : [];
    return issue.keys.map((k) => `${prefix}${path ? `${path}.` : ""}${k}: unknown key${suggestion(k, known)}`);
  }
  return [`${prefix}${path || "(top level)"}: ${describeIssue(issue)}`];
}

function suggestion(key: string, known: readonly string[]): string {
  const [best] = closest(key, known, 1);
  return best ? ` (did you mean \`${best}\`?)` : known.length > 0 ? ` (known here: ${known.join(", ")})` : "";
}

const SECRET_KEY = /token|secret|key|pass/i;

function describeIssue(issue: z.core.$ZodIssue): string {
  const message = plainMessage(issue);
  // What was written, when it is short enough to show (a value, not a whole mapping).
  const input = "input" in issue ? issue.input : undefined;
  const primitive = typeof input === "string" || typeof input === "boolean" || (typeof input === "number" && Number.isFinite(input));
  // A secret (JAGA_HTTP_TOKEN) is never echoed, not even a wrong one.
  const secret = issue.path.some((seg) => typeof seg === "string" && SECRET_KEY.test(seg));
  return primitive && !secret && !message.includes("(got ") ? `${message} (got ${shown(input)})` : message;
}

/** zod's own texts ("Invalid input: expected …", "Too small: …") in plain words; ours as they are. */
function plainMessage(issue: z.core.$ZodIssue): string {
  const generic = /^(Invalid|Too (small|big))/.test(issue.message);
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return `required (${article(issue.expected)})`;
      return generic ? `must be ${article(issue.expected)}` : issue.message;
    case "invalid_value":
      return issue.values.length === 1 ? `must be ${shown(issue.values[0])}` : `must be one of ${issue.values.map(String).join(", ")}`;
    case "invalid_union":
      return generic ? "must be text or a number" : issue.message;
    case "too_small":
    case "too_big": {
      if (!generic) return issue.message;
      const small = issue.code === "too_small";
      const bound = Number(small ? issue.minimum : issue.maximum);
      const word = small ? "at least" : "at most";
      if (issue.origin === "array") return `must list ${word} ${bound}`;
      if (issue.origin === "string") return small && bound === 1 ? "must not be empty" : `must be ${word} ${bound} characters long`;
      return `must be ${word} ${bound}`;
    }
    case "invalid_format":
      return generic ? "is not in the expected form" : issue.message;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  const names: Record<string, string> = { number: "a number", int: "a whole number", string: "text", boolean: "true or false", array: "a list", object: "a mapping" };
  return names[type] ?? `a ${type}`;
}

/** The keys the object at `path` accepts, found by walking the schema (defaults, pipes, lists). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.core.$ZodType | undefined = schema;
  const unwrap = (n: z.core.$ZodType | undefined): z.core.$ZodType | undefined => {
    for (let i = 0; n && i < 10; i++) {
      const def = n._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
      if (def.innerType) n = def.innerType;
      else if (def.type === "pipe") n = def.in;
      else return n;
    }
    return n;
  };
  for (const seg of path) {
    node = unwrap(node);
    const def = node?._zod.def as { type?: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType } | undefined;
    node = def?.type === "array" ? def.element : def?.type === "object" ? def.shape?.[String(seg)] : undefined;
  }
  const def = unwrap(node)?._zod.def as { type?: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}
