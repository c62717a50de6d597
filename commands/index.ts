/** Every chat command, in the order /help lists them. One file per command in this folder. */
import type { Command } from "../src/pipeline/command.js";
import ack from "./ack.js";
import audit from "./audit.js";
import block from "./block.js";
import blocked from "./blocked.js";
import diag from "./diag.js";
import digest from "./digest.js";
import dns from "./dns.js";
import flush from "./flush.js";
import free from "./free.js";
import help from "./help.js";
import incident from "./incident.js";
import incidents from "./incidents.js";
import logs from "./logs.js";
import mute from "./mute.js";
import ports from "./ports.js";
import restart from "./restart.js";
import save from "./save.js";
import start from "./start.js";
import status from "./status.js";
import stop from "./stop.js";
import unblock from "./unblock.js";
import unmute from "./unmute.js";
import wa from "./wa.js";
import whoami from "./whoami.js";

export const commands: readonly Command[] = [
  help,
  status,
  logs,
  restart,
  stop,
  start,
  save,
  flush,
  incidents,
  incident,
  ack,
  mute,
  unmute,
  digest,
  dns,
  ports,
  diag,
  free,
  blocked,
  block,
  unblock,
  whoami,
  audit,
  wa,
];
