/**
 * Throwaway sudoers rules for tests (needs root): each goes into /etc/sudoers.d under the
 * caller's unique name, only once `visudo -cf` accepts it, and is removed by the caller — or by
 * the reaper should the test process die first.
 *
 * @example
 * const path = await installSudoers(`jaga-test-${id}`, `${user} ALL=(root) NOPASSWD: /usr/bin/id\n`, scratchDir);
 * rmSync(path); // after the test
 */
import { execFile } from "node:child_process";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { reapOnExit } from "./reaper.js";

const run = promisify(execFile);

/**
 * Puts `text` into /etc/sudoers.d/`name` once visudo accepts it. It is written under a name with
 * a dot first, which sudo skips, and renamed into place: sudo never reads half a file.
 */
export async function installSudoers(name: string, text: string, scratch: string): Promise<string> {
  const staged = join(scratch, name);
  writeFileSync(staged, text, { mode: 0o440 });
  await run("visudo", ["-cf", staged]);
  const path = `/etc/sudoers.d/${name}`;
  const partial = `/etc/sudoers.d/.${name}.partial`;
  reapOnExit({ path: partial });
  reapOnExit({ path });
  writeFileSync(partial, text, { mode: 0o440 });
  renameSync(partial, path);
  rmSync(staged, { force: true });
  return path;
}
