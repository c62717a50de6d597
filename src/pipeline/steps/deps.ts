/**
 * What the steps share: the pipeline's parts, its counters, the confirmation desk, and whether
 * the pipeline is sealed (a straggler's answer is then dropped: the store is closing).
 */
import type { Clock } from "../../clock.js";
import type { Config } from "../../config/load.js";
import type { Inventory } from "../../hosts/inventory.js";
import type { Logger } from "../../log.js";
import type { LocalStore } from "../../store/store.js";
import type { Command } from "../command.js";
import type { Confirmations } from "../confirmations.js";
import type { Services } from "../context.js";
import type { Directory } from "../people.js";

export interface PipelineCounters {
  /** Messages from people not in the config: never answered. */
  ignoredSenders: number;
  handled: number;
  failed: number;
  /** Commands refused by a rate or in-flight limit (answered or not). */
  limited: number;
}

export interface StepDeps {
  commands: readonly Command[];
  directory: Directory;
  hosts: Inventory;
  store: LocalStore;
  config: Config;
  clock: Clock;
  log: Logger;
  services: Services;
  counters: PipelineCounters;
  confirmations: Confirmations;
  sealed(): boolean;
}
