/**
 * Durations in config are written the way people say them: `30s`, `5m`, `1h`, `1d`, or a plain
 * number of seconds.
 *
 * @example
 * parseDuration("5m"); // 300000
 * parseDuration(45);   // 45000
 */
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(input: string | number): number | undefined {
  if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? input * 1000 : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(input);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNITS[(match[2] ?? "s").toLowerCase()]!);
}

/** `3h 12m`, `45s`, `2d 4h`: two units at most, for a phone screen. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** `512 B`, `4.2 MB`, `1.9 GB` (powers of 1024, as `free` and `df -h` print them). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * `14:02` in the zone, 24-hour, for a phone screen.
 *
 * @example
 * formatClock(Date.parse("2026-12-01T07:02:00Z"), "Asia/Jakarta"); // "14:02"
 */
export function formatClock(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(at);
}
