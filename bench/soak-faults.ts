/**
 * The soak's faults, each on a real process it started: an sshd frozen (SIGSTOP of the listener
 * and every session, so TCP stays open and nothing answers) and thawed; PostgREST killed and
 * started again with the very environment it had; and a `getent` for the SSH hosts that asks the
 * loopback DNS stand-in, so a DNS outage there is what the hosts' own name lookups see.
 *
 * @example
 * const frost = freezer(sshd.dir);
 * frost.freeze(); frost.thaw();
 * const rest = postgrestControl(); await rest.kill(); rest.start();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, descendants } from "../test/helpers/sshd.js";
import { waitFor } from "../test/helpers/pm2.js";

/** Children of this process whose command line contains `needle`. */
function ownChildren(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Freezes the sshd started from `<dir>/sshd_config` (see test/helpers/sshd.ts) with all its
 * sessions, and thaws it. `thaw` is safe to call any time (cleanup calls it).
 *
 * @example
 * const f = freezer(sshd.dir); f.freeze(); await sleep(60_000); f.thaw();
 */
export function freezer(dir: string): { freeze(): number; thaw(): void; readonly frozen: boolean } {
  let stopped: number[] = [];
  return {
    freeze() {
      const [listener] = ownChildren(join(dir, "sshd_config"));
      if (!listener) return 0;
      // Listener first, so it forks no new session meanwhile.
      signal([listener], "SIGSTOP");
      stopped = [listener, ...descendants(listener)];
      signal(stopped, "SIGSTOP");
      return stopped.length;
    },
    thaw() {
      signal(stopped, "SIGCONT");
      stopped = [];
    },
    get frozen() {
      return stopped.length > 0;
    },
  };
}

/**
 * Kills the PostgREST that test/helpers/supabase-stack.ts started (a child of this process) and
 * starts it again from the same binary and environment, so the API comes back where it was.
 *
 * @example
 * const r = postgrestControl(); await r.kill(); r.start(); await r.stop();
 */
export function postgrestControl(): { kill(): Promise<boolean>; start(): void; stop(): Promise<void> } {
  let saved: { exe: string; env: NodeJS.ProcessEnv } | undefined;
  let mine: ChildProcess | undefined;
  const current = (): number | undefined => (mine?.pid && alive(mine.pid) ? mine.pid : ownChildren("postgrest")[0]);
  return {
    async kill() {
      const pid = current();
      if (!pid) return false;
      const env = Object.fromEntries(
        readFileSync(`/proc/${pid}/environ`, "utf8")
          .split("\0")
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      saved = { exe: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!, env };
      signal([pid], "SIGKILL");
      await waitFor(() => !alive(pid), 10_000, "PostgREST to die");
      return true;
    },
    start() {
      if (!saved || current()) return;
      mine = spawn(saved.exe, [], { env: saved.env, stdio: "ignore" });
      mine.on("error", () => undefined);
    },
    async stop() {
      const c = mine;
      mine = undefined;
      if (c?.pid && alive(c.pid)) {
        c.kill("SIGKILL");
        await waitFor(() => !alive(c.pid!), 10_000, "PostgREST to die");
      }
    },
  };
}

/**
 * Writes `<dir>/getent`: for `getent hosts <name>` it asks the DNS stand-in on 127.0.0.1:<port>
 * (one A query over UDP) and answers as getent does — the address and exit 0, or exit 2 ("not
 * found") on REFUSED, NXDOMAIN or silence; any other call goes to the real /usr/bin/getent.
 * Python without site packages starts in about 10 ms, and the hosts run this every interval.
 *
 * @example
 * writeGetentShim(binDir, "soak.test", dns.port); // sshd: SetEnv PATH=<binDir>:/usr/bin:/bin
 */
export function writeGetentShim(dir: string, name: string, port: number): string {
  const file = join(dir, "getent");
  writeFileSync(
    file,
    `#!/usr/bin/python3 -S
# Written by bench/soak.ts: getent for the soak's SSH hosts (see bench/soak-faults.ts).
import os, socket, struct, sys
NAME, PORT = ${JSON.stringify(name)}, ${port}
if sys.argv[1:] == ["hosts", NAME]:
    q = struct.pack(">HHHHHH", os.getpid() & 0xFFFF, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in NAME.split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(q, ("127.0.0.1", PORT))
        r = s.recvfrom(512)[0]
    except OSError:
        sys.exit(2)
    if r[3] & 15 != 0 or struct.unpack(">H", r[6:8])[0] == 0:
        sys.exit(2)
    print(socket.inet_ntoa(r[-4:]) + "       " + NAME)
    sys.exit(0)
os.execv("/usr/bin/getent", ["getent"] + sys.argv[1:])
`,
  );
  chmodSync(file, 0o755);
  return file;
}
