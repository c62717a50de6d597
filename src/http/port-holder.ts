/**
 * Who holds a TCP port on this machine, for the "port already in use" message: reads
 * /proc/net/tcp{,6} for the listening socket's inode, then finds the process whose fd points at
 * it. Linux only, best effort: another user's process cannot be inspected, and then the answer
 * is just unknown.
 *
 * @example
 * await portHolder(8080); // "node (pid 1234)" or undefined
 */
import { readdir, readFile, readlink } from "node:fs/promises";

export async function portHolder(port: number): Promise<string | undefined> {
  try {
    const inodes = new Set<string>();
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const text = await readFile(file, "utf8").catch(() => "");
      for (const line of text.split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        // local_address is HEXIP:HEXPORT; st 0A is LISTEN; inode is column 9.
        if (cols.length > 9 && cols[3] === "0A" && parseInt(cols[1]!.split(":")[1]!, 16) === port) inodes.add(cols[9]!);
      }
    }
    if (inodes.size === 0) return undefined;
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && inodes.has(inode)) {
          const comm = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "?")).trim();
          return `${comm} (pid ${pid})`;
        }
      }
    }
  } catch {
    // best effort only
  }
  return undefined;
}
