/**
 * What the steps share: the pipeline's parts, its counters, the confirmation desk, and whether
 * the pipeline is sealed (a straggler's answer is then dropped: the store is closing).
 */
import type { Confirmations } from "../confirmations.js";
import type { PipelineDeps } from "../pipeline.js";

export interface PipelineCounters {
  /** Messages from people not in the config: never answered. */
  ignoredSenders: number;
  handled: number;
  failed: number;
  /** Commands refused by a rate or in-flight limit (answered or not). */
  limited: number;
}

export interface StepDeps extends Required<PipelineDeps> {
  counters: PipelineCounters;
  confirmations: Confirmations;
  sealed(): boolean;
}
