/**
 * The crash drill of the alert path: real `jaga start` processes (console transport) watching a
 * real PM2 whose app crash-loops on demand, killed with SIGKILL at each step an alert passes
 * (JAGA_FAILPOINT, see src/failpoint.ts) and restarted on the same data directory. Across all
 * runs, each incident's opening and resolved alerts must reach stdout exactly once.
 *
 * The one duplicate the design allows is a kill between the transport taking a message and
 * markSent (`outbox.after-send`): the next run sends that message again, byte for byte, and logs
 * it as a possible duplicate (WhatsApp sends it under the same message id, so the receiver drops
 * the copy). The drill asserts that this is the only repeat, and that it is flagged.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import Database from "better-sqlite3";
import type { FailpointName } from "../src/failpoint.js";
import { APPS, ROOT, startPm2, TSX, waitFor, type TestPm2 } from "./helpers/pm2.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-drill-"));
const flag = join(dir, "crash.flag");
const dataDir = join(dir, "data");
let pm2: TestPm2;

/** Quiet time before an incident resolves; short so the drill is quick. */
const RESOLVE_AFTER_S = 10;

before(async () => {
  pm2 = await startPm2({});
  // Healthy until the flag file exists, then it crashes ~0.1 s after every start. PM2 must not
  // give up on it during the drill (its default is 16 unstable restarts), and a small restart
  // delay keeps the storm from eating the CPU the Jaga runs need.
  const ecosystem = join(dir, "ecosystem.json");
  writeFileSync(
    ecosystem,
    JSON.stringify({
      apps: [{ name: "crashy", script: join(APPS, "crash-on-flag.js"), env: { FLAG_FILE: flag }, max_restarts: 100_000, restart_delay: 300 }],
    }),
  );
  await pm2.cli("start", ecosystem);
  const host = pm2.hostConfig();
  writeFileSync(
    join(dir, "jaga.yaml"),
    [
      "language: en",
      "digest: { enabled: false }",
      "watch:",
      "  interval: 1s",
      `  resolveAfter: ${RESOLVE_AFTER_S}s`,
      "  restartStorm: { restarts: 3, within: 10m, fast: { restarts: 3, within: 10m } }",
      // Only the storm this drill causes: the box's own CPU, memory and disks stay out of it.
      "  cpu: { percent: 100, for: 1d }",
      "  memory: { percent: 100 }",
      "  disk: { warning: 99, critical: 100 }",
      "  dns: { name: localhost }",
      "hosts:",
      `  - { name: local, local: true, pm2Home: "${host.pm2Home}", pm2Bin: "${host.pm2Bin}" }`,
      "",
    ].join("\n"),
  );
});
after(async () => {
  await pm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  failpoint: FailpointName | null;
  child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: Run[] = [];

/** Starts `jaga start` on the drill's data directory, armed with `failpoint` (or not). */
async function startJaga(failpoint: FailpointName | null): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, JAGA_TRANSPORT: "console", JAGA_DATA_DIR: dataDir, LOG_LEVEL: "info" };
  delete env.JAGA_FAILPOINT;
  if (failpoint) env.JAGA_FAILPOINT = failpoint;
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), "start"], { cwd: dir, env });
  const run: Run = {
    failpoint,
    child,
    stdout: "",
    stderr: "",
    exit: new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal }))),
  };
  child.stdout.on("data", (c: Buffer) => (run.stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (run.stderr += c.toString()));
  runs.push(run);
  // Stdin stays open: the console transport would stop Jaga at end of input. A run armed to die
  // on its first send may die before it logs "started" (the pump starts first).
  await waitFor(() => run.stderr.includes("Jaga started") || child.exitCode !== null || child.signalCode !== null, 30_000, "Jaga to start");
  return run;
}

/** Waits until the run killed itself at its failpoint. */
async function killedAt(run: Run): Promise<void> {
  const timeout = setTimeout(() => run.child.kill("SIGKILL"), 60_000);
  const { signal } = await run.exit;
  clearTimeout(timeout);
  assert.equal(signal, "SIGKILL");
  // A failpoint that was never reached ends the run by the timeout above: no "stopped", and
  // the step's log line is missing; the per-step checks below then name the step.
  assert.doesNotMatch(run.stderr, /"msg":"stopped"/);
}

interface Delivery {
  run: number;
  id: number;
  phase: "open" | "resolved";
  text: string;
}

/** Every alert the runs printed, parsed from their `[alert]` lines (one message per write). */
function deliveries(): Delivery[] {
  const out: Delivery[] = [];
  runs.forEach((r, run) => {
    // An edited alert prints whole, each line marked `[alert ✏️]`, its status line first.
    const messages = r.stdout.split(/\n(?=\[alert\] (?:🔁|✅|👀|⏰|📡|💾|🔥|🧠|🌐|🚨)|\[alert ✏️\] (?:✅|👀))/);
    for (const m of messages) {
      const open = /^\[alert\] Incident #(\d+) · reply/m.exec(m);
      // Resolved within WhatsApp's edit window: the opening alert edited, "✅ Resolved" on top.
      const edited = /^\[alert ✏️\] ✅ \*Resolved\*/.test(m) ? /^\[alert ✏️\] Incident #(\d+) · reply/m.exec(m) : null;
      const resolved = /^\[alert\] ✅ Resolved: #(\d+) /m.exec(m) ?? edited;
      if (open) out.push({ run, id: Number(open[1]), phase: "open", text: m.trim() });
      if (resolved) out.push({ run, id: Number(resolved[1]), phase: "resolved", text: m.trim() });
    }
  });
  return out;
}

/** What the data directory holds between runs: incidents and outbox rows. */
function stored(): { incidents: { id: number; state: string }[]; outbox: { key: string; sent: boolean; sending: boolean }[] } {
  const db = new Database(join(dataDir, "jaga.db"));
  try {
    return {
      incidents: db.prepare<[], { id: number; state: string }>("SELECT id, state FROM incidents ORDER BY id").all(),
      outbox: db
        .prepare<[], { key: string; sent: number; sending: number }>(
          "SELECT dedupe_key AS key, sent_at IS NOT NULL AS sent, sending_at IS NOT NULL AS sending FROM outbox ORDER BY id",
        )
        .all()
        .map((r) => ({ key: r.key.replace(/[0-9a-f-]{36}/, "<uid>"), sent: r.sent === 1, sending: r.sending === 1 })),
    };
  } finally {
    db.close();
  }
}

const printed = (id: number, phase: Delivery["phase"]) => deliveries().filter((d) => d.id === id && d.phase === phase);

it("kill -9 at every step of the alert path loses no alert and repeats only the flagged one", { timeout: 240_000 }, async () => {
  // Incident #1 is killed at every step from "condition seen" to "resolve committed".
  let run = await startJaga("desk.after-condition");
  writeFileSync(flag, "");
  await killedAt(run);
  assert.deepEqual(stored(), { incidents: [], outbox: [] });

  run = await startJaga("desk.after-describe");
  await killedAt(run);
  assert.deepEqual(stored(), { incidents: [], outbox: [] }, "the cause was gathered before anything was written");

  run = await startJaga("desk.after-open");
  await killedAt(run);
  assert.deepEqual(
    stored(),
    { incidents: [{ id: 1, state: "open" }], outbox: [{ key: "incident:<uid>:open", sent: false, sending: false }] },
    "killed right after the incident and its alert committed together",
  );
  assert.equal(deliveries().length, 0);

  // Restarted: the queued alert goes out, and the run dies between stdout and markSent.
  run = await startJaga("outbox.after-send");
  await killedAt(run);
  assert.equal(printed(1, "open").length, 1, "the alert committed with the incident went out after the restart");
  assert.deepEqual(stored().outbox, [{ key: "incident:<uid>:open", sent: false, sending: true }], "printed, not marked sent");

  // Restarted: the cut-short send is repeated (the one allowed, flagged duplicate); the storm
  // ends, and the run dies right after the resolution and its alert committed.
  run = await startJaga("desk.after-resolve");
  await waitFor(() => printed(1, "open").length === 2, 30_000, "the resend of the cut-short alert");
  unlinkSync(flag);
  await killedAt(run);
  assert.match(run.stderr, /may arrive twice/);
  assert.deepEqual(stored(), {
    incidents: [{ id: 1, state: "resolved" }],
    outbox: [
      { key: "incident:<uid>:open", sent: true, sending: true },
      { key: "incident:<uid>:resolved", sent: false, sending: false },
    ],
  });
  assert.equal(printed(1, "resolved").length, 0);

  // Restarted without failpoint: the resolution goes out; then a second incident, start to end.
  run = await startJaga(null);
  await waitFor(() => printed(1, "resolved").length === 1, 30_000, "resolved #1");
  writeFileSync(flag, "");
  await waitFor(() => printed(2, "open").length === 1, 30_000, "open #2");
  unlinkSync(flag);
  await waitFor(() => printed(2, "resolved").length === 1, 30_000 + RESOLVE_AFTER_S * 1000, "resolved #2");
  run.child.kill("SIGTERM");
  assert.equal((await run.exit).code, 0, run.stderr);

  // Every incident: opened and resolved, numbered 1, 2, …
  const db = new Database(join(dataDir, "jaga.db"), { readonly: true });
  try {
    const incidents = db.prepare<[], { id: number; state: string; app: string }>("SELECT id, state, app FROM incidents ORDER BY id").all();
    assert.deepEqual(incidents, [
      { id: 1, state: "resolved", app: "crashy" },
      { id: 2, state: "resolved", app: "crashy" },
    ]);
    assert.equal(db.prepare<[], { n: number }>("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL").get()!.n, 0, "nothing left unsent");
    const cut = db.prepare<[], { id: number }>("SELECT id FROM outbox WHERE dedupe_key LIKE 'incident:%:open' ORDER BY id LIMIT 1").get()!;
    const flagged = runs.flatMap((r) => [...r.stderr.matchAll(/"outboxId":(\d+)[^\n]*may arrive twice/g)].map((m) => Number(m[1])));
    assert.deepEqual(flagged, [cut.id], "the only resend flagged is the message cut short");
  } finally {
    db.close();
  }

  // Exactly once, each; the only repeat is the flagged one, identical, in the run after the cut.
  const seen = deliveries();
  for (const id of [1, 2]) assert.equal(printed(id, "resolved").length, 1, `resolved #${id} exactly once`);
  assert.equal(printed(2, "open").length, 1, "open #2 exactly once");
  const [first, again] = printed(1, "open");
  assert.deepEqual([first?.run, again?.run], [3, 4], "open #1: sent by the run cut short, resent by the next");
  assert.equal(again!.text, first!.text, "the resend is the same message");
  assert.equal(seen.length, 5, seen.map((d) => `${d.run}: ${d.text}`).join("\n"));
  assert.match(first!.text, /^\[alert\] 🔁 \*Restart storm\* · `crashy` on \*local\*\n\[alert\] \d+ restarts in \d+s\.\n\[alert\] Likely cause: /);
});
