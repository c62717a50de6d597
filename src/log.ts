/**
 * Structured logs (pino) on stderr, so stdout stays clean for the console transport.
 * Every string that reaches the log, in the message or in an object's fields, is masked first
 * (NIKs in every written form, tokens, `password=`), and object
 * keys that hold secrets or whole environments are censored by path.
 *
 * @example
 * const log = createLogger("info");
 * log.info({ host: "stb", app: "bot-kjp" }, "restarted");
 */
import { pino, type Logger, type DestinationStream } from "pino";
import { redact, redactDeep } from "./text.js";

export type { Logger };

const SECRET_PATHS = [
  "env",
  "*.env",
  "pm2_env",
  "*.pm2_env",
  "*.password",
  "*.passphrase",
  "*.privateKey",
  "*.token",
  "*.key",
  "*.apiKey",
  "*.authorization",
  "*.headers.authorization",
];

export function createLogger(level: string, destination: DestinationStream = pino.destination(2)): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: SECRET_PATHS, censor: "«redacted»" },
      hooks: {
        logMethod(args, method) {
          // Strings and the fields of objects (`host`, `command`, …) alike: one masker for the log.
          const masked = args.map((a: unknown) => (typeof a === "string" ? redact(a) : redactDeep(a)));
          return method.apply(this, masked as Parameters<typeof method>);
        },
      },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}

/** A logger that writes nothing, for tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: "silent" });
