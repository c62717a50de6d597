/**
 * The context a command runs in: who asked, in which language, and the parts it may use.
 * Built fresh for every message by the pipeline.
 */
import type { LeaseStatus } from "../standby/lease.js";
import type { RunLedger } from "../standby/shared-runs.js";
import type { IncomingMessage } from "../chat/transport.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import type { ExecOptions } from "../hosts/executor.js";
import type { Inventory } from "../hosts/inventory.js";
import type { Lang, Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import type { LocalStore } from "../store/store.js";
import type { Command } from "./command.js";
import type { Person } from "./people.js";
import type { WatchServices } from "../watch/index.js";
import type { WhatsAppControl } from "../reconnect/control.js";

/** Long-running parts that some commands talk to; absent when not running. */
export interface Services {
  /** Incidents, mutes, the digest (see src/watch). */
  watch?: WatchServices;
  /** The WhatsApp connection, when it is the transport (see src/reconnect). */
  whatsapp?: WhatsAppControl;
  /** With `standby:` configured: this instance's role and the others (see src/standby). */
  standby?: () => LeaseStatus;
  /** With `standby:` configured: the lease's record of the commands running (see src/standby/shared-runs.ts). */
  runs?: RunLedger;
}

export interface Context {
  readonly message: IncomingMessage;
  readonly sender: Person;
  readonly lang: Lang;
  /** Translates into the sender's language. */
  readonly t: Translate;
  readonly hosts: Inventory;
  /** The store Jaga runs on: embedded, replicated to Supabase when configured. */
  readonly store: LocalStore;
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly services: Services;
  /** Every command, for /help. */
  readonly commands: readonly Command[];
  /**
   * When the command's time is up (epoch ms on `clock`). Host calls take their own, shorter
   * deadline inside it: see `hostCall` in host-call.ts.
   */
  readonly deadline: number;
  /** Aborted when the command's time is up; pass `exec` to every host call. */
  readonly signal: AbortSignal;
  /** Executor options carrying `signal`: a timed-out command ends its remote processes too. */
  readonly exec: ExecOptions;
}
