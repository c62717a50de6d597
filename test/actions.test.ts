/**
 * Alerts you can act on: every alert lists numbered actions built from the command registry,
 * and `/do <incident> <n>`, a quoted reply with the number, or a 👍 on the alert run them
 * through the pipeline — with the replier's role, confirmations and the audit — against a real
 * PM2 whose app really restarts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { commands } from "../commands/index.js";
import type { IncomingMessage } from "../src/chat/transport.js";
import { actionProblems } from "../src/pipeline/actions-check.js";
import { actionsFor, checkPlaybook } from "../src/watch/actions.js";
import { testConfig } from "./helpers/harness.js";
import { startPm2, type TestPm2 } from "./helpers/pm2.js";
import { watchHarness, type WatchHarness } from "./helpers/watch.js";

const VIEWER = "628111000021";
const OPERATOR = "628111000022";
const people = [
  { phone: VIEWER, name: "Vera", role: "viewer", language: "en" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
];

describe("the playbook against the command registry", () => {
  it("names only commands Jaga has, with arguments they take", () => {
    assert.deepEqual(actionProblems(commands, testConfig({})), []);
  });

  it("reports an action naming a missing command, or arguments its command refuses", () => {
    const registry = [
      { name: "logs", accepts: () => true },
      { name: "restart", accepts: (t: string[]) => t.length <= 2 && !t.includes("host-1") },
    ];
    const problems = checkPlaybook(registry, ["restart_storm"]);
    assert.ok(problems.includes("restart_storm: /restart app-1 host-1 is refused by /restart"), problems.join("\n"));
    assert.ok(problems.includes("restart_storm: /stop is not a command"), problems.join("\n"));
  });
});

describe("acting on an alert", () => {
  let pm2: TestPm2;
  let w: WatchHarness;
  let seq = 0;
  const send = (text: string, from: string, extra: Partial<IncomingMessage> = {}) =>
    w.pipeline.handle({ id: `a${++seq}`, chatId: "120363000000000001@g.us", isGroup: true, senderId: from, text, at: Date.now(), ...extra });
  const pidOf = async (name: string) => (await pm2.jlist()).find((p) => p.name === name)?.pid;

  before(async () => {
    pm2 = await startPm2({ web: "healthy.js" });
    w = watchHarness({ people, hosts: [pm2.hostConfig()], limits: { commandsPerMinute: 1000 } });
  });
  after(async () => {
    await w?.close();
    await pm2?.stop();
  });

  /** Opens an incident through the desk, and "sends" its alert under a WhatsApp id. */
  async function alerted(app: string, waId: string): Promise<{ id: number; text: string }> {
    await w.watch.desk.raise({ host: "local", app, kind: "restart_storm" }, { summary: "6 restarts in 4 min" });
    const [row] = await w.store.outbox.pending(1);
    assert.ok(row, "the alert was queued");
    await w.store.outbox.markSending(row.id, Date.now());
    await w.store.outbox.markSent(row.id, Date.now(), [waId]);
    const incident = (await w.store.incidents.listOpen()).find((i) => i.app === app)!;
    return { id: incident.id, text: row.text };
  }

  it("lists the numbered actions in the alert, from the playbook", async () => {
    const { id, text } = await alerted("web", "3EB0AAAA0000000000000001");
    assert.ok(
      text.endsWith(`\n*Actions:* 1 \`/logs web local\` · 2 \`/restart web local\` · 3 \`/stop web local\`\nIncident #${id} · reply with a number, or \`/do ${id} <n>\` · \`/ack ${id}\``),
      text,
    );
    assert.equal(actionsFor({ kind: "restart_storm", host: "local", app: "web" }).length, 3);
  });

  it("/do <incident> <n> runs that action as the sender, with the sender's role", async () => {
    const { id } = (await w.store.incidents.listOpen()).find((i) => i.app === "web")!;
    const before = await pidOf("web");
    assert.match((await send(`/do ${id} 2`, VIEWER))!, /^🚫 `\/restart` needs the role \*operator\*; yours is \*viewer\*\./);
    assert.equal(await pidOf("web"), before, "the viewer restarted nothing");
    assert.match((await send(`/do ${id} 2`, OPERATOR))!, /^🔄 `web` restarted on \*local\*/);
    assert.notEqual(await pidOf("web"), before);
    const [row] = await w.store.audit.recent(1);
    assert.equal(row!.command, "restart");
    assert.equal(row!.actorName, "Oki");
    assert.equal(row!.args, '{"app":"web","host":"local"}');
  });

  it("a quoted reply with the number runs the action of the alert it answers", async () => {
    const before = await pidOf("web");
    assert.match((await send("2", OPERATOR, { replyTo: "3EB0AAAA0000000000000001" }))!, /^🔄 `web` restarted on \*local\*/);
    assert.notEqual(await pidOf("web"), before);
    assert.equal(await send("1", OPERATOR, { replyTo: "3EB0AAAA0000000000000001" }), "📄 `web` on *local* has no error lines.");
  });

  it("says what is wrong with a number out of range, an unknown incident, or a number quoting no alert", async () => {
    const { id } = (await w.store.incidents.listOpen()).find((i) => i.app === "web")!;
    assert.equal(
      await send(`/do ${id} 9`, OPERATOR),
      `Incident #${id}: pick an action number — 1 \`/logs web local\` · 2 \`/restart web local\` · 3 \`/stop web local\`. E.g. \`/do ${id} 1\`.`,
    );
    assert.match((await send("/do 999 1", OPERATOR))!, /999/);
    assert.equal(await send("2", OPERATOR, { replyTo: "3EB0NOTANALERT000000000" }), "❓ A number as a reply works on one incident's alert. Use `/do <incident> <n>`.");
    assert.equal(await send("2", OPERATOR), null, "a bare number in the group, quoting nothing, is chatter");
  });

  it("a 👍 on the alert acknowledges its incident, as the one who reacted; on anything else it is only a reaction", async () => {
    const { id } = (await w.store.incidents.listOpen()).find((i) => i.app === "web")!;
    assert.equal(await send("👍", OPERATOR, { replyTo: "3EB0NOTANALERT000000000", reaction: true }), null);
    assert.equal(await send("❤️", OPERATOR, { replyTo: "3EB0AAAA0000000000000001", reaction: true }), null);
    assert.equal((await w.store.incidents.get(id))!.state, "open");
    assert.match((await send("👍🏽", VIEWER, { replyTo: "3EB0AAAA0000000000000001", reaction: true }))!, /needs the role \*operator\*/);
    assert.equal((await w.store.incidents.get(id))!.state, "open");
    await send("👍", OPERATOR, { replyTo: "3EB0AAAA0000000000000001", reaction: true });
    const acked = (await w.store.incidents.get(id))!;
    assert.equal(acked.state, "acknowledged");
    assert.equal(acked.acknowledgedBy, "Oki");
  });

  it("a destructive action (/stop) asks its replier first; on /yes the app stops, and the watcher knows it was on purpose", async () => {
    const { id } = (await w.store.incidents.listOpen()).find((i) => i.app === "web")!;
    const plan = (await send("3", OPERATOR, { replyTo: "3EB0AAAA0000000000000001" }))!;
    assert.match(plan, /^⚠️ \*Confirm \/stop\*\n/);
    assert.equal((await pm2.jlist()).find((p) => p.name === "web")!.pm2_env.status, "online", "nothing stopped before the /yes");
    const stops = async () => ((await w.store.incidents.timeline(id))?.events ?? []).filter((e) => e.kind === "action" && e.detail === "/stop web local");
    assert.deepEqual(await stops(), [], "a plan waiting for its /yes is no action taken");
    assert.equal(await send(`/yes ${/\/yes (\d{4})/.exec(plan)![1]}`, VIEWER), `❓ Code \`${/\/yes (\d{4})/.exec(plan)![1]}\` matches nothing waiting for your confirmation. Nothing was changed.`);
    assert.match((await send(`/yes ${/\/yes (\d{4})/.exec(plan)![1]}`, OPERATOR))!, /^⏹️|stopped/);
    assert.equal((await pm2.jlist()).find((p) => p.name === "web")!.pm2_env.status, "stopped");
    assert.equal(w.watch.stoppedBy("local", "web")?.by, "Oki");
    assert.deepEqual((await stops()).map((e) => e.by), ["Oki"], "the confirmed action is on the incident's timeline");
    await pm2.cli("start", "web");
  });

  it("runs nothing for a resolved incident's action", async () => {
    const { id } = (await w.store.incidents.listOpen()).find((i) => i.app === "web")!;
    await w.store.incidents.resolve(id, Date.now());
    const before = await pidOf("web");
    assert.equal(await send(`/do ${id} 2`, OPERATOR), `ℹ️ Incident #${id} is resolved; \`/restart web local\` was not run. Send it yourself if you still need it.`);
    assert.match((await send("2", OPERATOR, { replyTo: "3EB0AAAA0000000000000001" }))!, /is resolved/);
    assert.equal(await pidOf("web"), before);
  });
});
