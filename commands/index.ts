/** Every chat command, in the order /help lists them. One file per command in this folder. */
import type { Command } from "../src/pipeline/command.js";
import ack from "./ack.js";
import audit from "./audit.js";
import block from "./block.js";
import blocked from "./blocked.js";
import digest from "./digest.js";
import dns from "./dns.js";
import flush from "./flush.js";
import help from "./help.js";
import incident from "./incident.js";
import incidents from "./incidents.js";
import logs from "./logs.js";
import mute from "./mute.js";
import restart from "./restart.js";
import status from "./status.js";
import unblock from "./unblock.js";
import unmute from "./unmute.js";
import wa from "./wa.js";
import whoami from "./whoami.js";

export const commands: readonly Command[] = [
  help,
  status,
  logs,
  restart,
  flush,
  incidents,
  incident,
  ack,
  mute,
  unmute,
  digest,
  dns,
  blocked,
  block,
  unblock,
  whoami,
  audit,
  wa,
];
