/**
 * Reads an app's last error lines and names the likely cause, with the command to try. The
 * patterns are the failures in the incident reports: a port already taken, DNS broken, a
 * database refusing connections, the heap exhausted, a promise nobody caught.
 *
 * @example
 * classify(["Error: listen EADDRINUSE: address already in use :::3000"]);
 * // { cause: "port_in_use", port: 3000, line: "Error: listen EADDRINUSE ..." }
 */

export type Cause =
  | { cause: "port_in_use"; port: number | null; line: string }
  | { cause: "dns"; name: string | null; line: string }
  | { cause: "db_refused"; port: number; line: string }
  | { cause: "heap"; line: string }
  | { cause: "unhandled_rejection"; line: string }
  | { cause: "unknown"; line: string | null };

const DB_PORTS: Record<number, string> = { 5432: "PostgreSQL", 3306: "MySQL/MariaDB", 6379: "Redis", 27017: "MongoDB", 5672: "RabbitMQ" };

/** The most telling line wins: newest first, by the order of the checks below. */
export function classify(lines: readonly string[]): Cause {
  const newestFirst = [...lines].reverse();
  const find = (re: RegExp) => newestFirst.find((l) => re.test(l));
  let line = find(/EADDRINUSE/);
  if (line) {
    // Node's own report of an uncaught listen error ends with `code: 'EADDRINUSE',` and names
    // the port only on its first line: the newest line that names one wins.
    const portOf = (l: string) => /(?::|port\s*)(\d{2,5})\b(?!.*:\d)/i.exec(l);
    const named = newestFirst.find((l) => /EADDRINUSE/.test(l) && portOf(l));
    if (named) return { cause: "port_in_use", port: Number(portOf(named)![1]), line: named };
    return { cause: "port_in_use", port: null, line };
  }
  line = find(/ENOTFOUND|EAI_AGAIN/);
  if (line) {
    const name = /(?:ENOTFOUND|EAI_AGAIN)\s+([A-Za-z0-9.-]+)/.exec(line);
    return { cause: "dns", name: name?.[1] ?? null, line };
  }
  line = find(/ECONNREFUSED/);
  if (line) {
    const port = /ECONNREFUSED\s+[\w.:[\]]*:(\d{2,5})/.exec(line);
    const p = port ? Number(port[1]) : NaN;
    if (DB_PORTS[p]) return { cause: "db_refused", port: p, line };
  }
  line = find(/heap out of memory|Allocation failed - JavaScript heap/i);
  if (line) return { cause: "heap", line };
  line = find(/unhandled ?(promise )?rejection|UnhandledPromiseRejection/i);
  if (line) return { cause: "unhandled_rejection", line };
  return { cause: "unknown", line: newestFirst.find((l) => /error/i.test(l)) ?? newestFirst[0] ?? null };
}

export function databaseName(port: number): string {
  return DB_PORTS[port] ?? `port ${port}`;
}

/** Parses `ss -Hltnp` output into who holds the port, e.g. `node (pid 1234)`. */
export function parsePortHolder(ssOutput: string): string | null {
  const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(ssOutput);
  return m ? `${m[1]} (pid ${m[2]})` : null;
}
