/**
 * What the SSH layer is told about a host: where and as whom to connect, and how patient to be.
 * Every default is here, in one place, with the reason for its size.
 *
 * @example
 * const o: SshExecutorOptions = { name: "stb", target: { host: "10.0.0.7", port: 22, user: "root", agent: false, hostKey: "SHA256:…" } };
 */
import type { LookupFunction } from "node:net";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../log.js";

/** Where and as whom to connect; the `ssh:` block of a host in jaga.yaml. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKeyPath?: string;
  agent: boolean;
  hostKey?: string;
}

export interface SshExecutorOptions {
  /** The host's name in the inventory; every message names it. */
  name: string;
  target: SshTarget;
  clock?: Clock;
  /** Where passphrases and SSH_AUTH_SOCK come from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Connects, drops, reconnect attempts and errors, once per transition. Default: none. */
  log?: Logger;
  /** Commands running at once on this host; more wait their turn. Default 8. */
  maxConcurrent?: number;
  /** One deadline for TCP connect, SSH handshake and login together. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * SSH ping interval. A link whose peer stays silent (a frozen host: TCP open, nothing
   * answering) is declared dead after `keepaliveIntervalMs × (keepaliveCountMax + 1)`:
   * by default 5 s × 3 = 15 s, instead of the minutes the OS would take.
   */
  keepaliveIntervalMs?: number;
  /** Unanswered pings tolerated before the link counts as dead. Default 2. */
  keepaliveCountMax?: number;
  /**
   * How long an open link may take to answer a channel request (the kill that follows a
   * command's timeout) before it counts as frozen and is dropped. Default 5 s.
   */
  answerTimeoutMs?: number;
  /** The most `close()` waits, whatever the peer does. Default 1.5 s. */
  closeTimeoutMs?: number;
  /** Reconnect delays: `initialMs`, doubling up to `maxMs`. Default 1 s … 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Name resolution for the TCP connect (tests inject one; default: the system resolver). */
  lookup?: LookupFunction;
}

export const SSH_DEFAULTS = {
  maxConcurrent: 8,
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 2,
  answerTimeoutMs: 5_000,
  closeTimeoutMs: 1_500,
  backoff: { initialMs: 1_000, maxMs: 30_000 },
} as const;

export type SshState = "idle" | "connecting" | "connected" | "down" | "closed";
