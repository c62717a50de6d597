/**
 * One WhatsApp session across real processes: two `jaga start` (JAGA_TRANSPORT=whatsapp,
 * `standby:`, the shared lease, outbox, desk and session in a real PostgreSQL behind a real
 * PostgREST) against the loopback WhatsApp stand-in (test/helpers/wa-standin.ts: the real Noise
 * handshake, login of a paired device, Signal sessions with the admin, acks). The session is
 * paired once, before anything starts: written into instance a's store, which uploads it at its
 * first term (src/standby/shared-auth.ts).
 *
 * The story: a is active; while WhatsApp holds its login, ten hosts become unreachable and their
 * alerts queue with a's takeover message in the shared outbox. a logs in, sends what one
 * message may carry (pacing: ten at most, then a minute's wait for the group) and answers the
 * admin; it is killed (-9) with an alert still queued. b takes over: it logs in as the SAME
 * device (no pairing), sends the rest once, and answers the admin — decrypting a message the
 * admin's Signal session encrypts with the ratchet a left, so b continued a's keys (no
 * `Bad MAC`). a comes back as the standby, b is stopped (SIGTERM) and a takes over again.
 * Throughout, never two instances active nor two sockets logged in; at the end every message
 * queued reached the stand-in exactly once, by WhatsApp message id and by text.
 *
 * What a new term does to the admin's Signal session (Baileys 7.0.0-rc14, libsignal 6.0.0), and
 * why the stand-in's admin asks for a retry as a phone would: the first send of a socket whose
 * device cache is empty (every new process, and every 5 minutes) queries the recipients' devices
 * and, as the answer carries their LIDs, starts a fresh outgoing session with each of them
 * (messages-send.js, `assertSessions(lids, true)`). The admin's next command still comes on the
 * old session; libsignal tries the fresh one first, and that failed try ratchets it
 * (`maybeStepRatchet` before the MAC check) before the old one decrypts. The reply then goes out
 * on the spoiled session, the admin cannot read it, sends a retry receipt, and Baileys sends it
 * again under the same id on a new session. Jaga itself decrypts everything (it asks for no
 * retry): that is what continuing a's keys means.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { SignalConsole } from "../src/chat/baileys/signal-console.js";
import { silentLogger } from "../src/log.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { activeOf, ALERT_GROUP, JagaFleet, until, type JagaInstance, type SpawnOptions } from "./helpers/jaga-instances.js";
import { freePort } from "./helpers/sshd.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";
import { SignalParty, writePairedSession, type PairedSession } from "./helpers/wa-peers.js";
import { startWaStandin, type WaStandin } from "./helpers/wa-standin.js";

const LEASE = "session";
const TTL_S = 3;
/** The group's pacing: after a's first message the next one waits this long, the window for the kill. */
const PACING_S = 60;
const ME = { pn: "6281100000001", lid: "123456789012345", device: 7 };
const ADMIN = { pn: "6281200000001", lid: "223456789012345" };
const ADMIN_JID = `${ADMIN.pn}@s.whatsapp.net`;
/** More than one paced message carries (ten rows): with a's takeover message, one is left for b. */
const HOSTS = Array.from({ length: 10 }, (_, i) => `gone-${i + 1}`);
/** How the pacer joins the rows of one message (src/chat/pacing.ts), after a header. */
const BATCH_SEPARATOR = "\n\n───\n\n";

const dir = mkdtempSync(join(tmpdir(), "jaga-session-"));
let stack: SupabaseStack;
let wa: WaStandin;
let session: PairedSession;
let options: SpawnOptions;
let signalConsole: SignalConsole | undefined;
const fleet = new JagaFleet(dir, () => stack);
const observer = fleet.observe(() => wa.open);

before(async () => {
  // The stand-in's Signal parties are libsignal, which prints every session it closes or opens
  // on the console: Jaga's own guard takes those lines off it here too.
  signalConsole = SignalConsole.install({ log: silentLogger });
  stack = await startSupabaseStack();
  const phone = new SignalParty(ME.pn, ME.lid);
  const admin = new SignalParty(ADMIN.pn, ADMIN.lid);
  // Paired once: a's own store holds the session, as after `JAGA_TRANSPORT=whatsapp` in a terminal.
  const data = join(fleet.home("a", LEASE), "data");
  mkdirSync(data, { recursive: true });
  const store = openSqliteStore(join(data, "jaga.db"));
  session = writePairedSession(store.waAuth, { ...ME, preKeys: 50, synced: true, phoneIdentity: phone.creds.signedIdentityKey.public });
  await store.close();
  wa = await startWaStandin({ jaga: session, me: ME, phone, admin, group: { jid: ALERT_GROUP, subject: "Jaga session test" } });
  // Hosts that refuse every connection: an "unreachable" incident each, on every instance.
  const key = join(dir, "host-key");
  await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const closed = await freePort();
  options = {
    lease: LEASE,
    ttlS: TTL_S,
    whatsapp: `whatsapp: { url: "${wa.url}", connectTimeout: 5m, pacing: { interval: ${PACING_S}s } }`,
    watch: "watch: { interval: 2s, unreachableAfter: 1, dns: { name: localhost } }",
    extra: [
      "people:",
      `  - { name: Admin, phone: "${ADMIN.pn}", role: admin }`,
      "hosts:",
      ...HOSTS.map((h) => `  - { name: ${h}, ssh: { host: 127.0.0.1, port: ${closed}, user: jaga, privateKeyPath: ${JSON.stringify(key)} } }`),
    ],
    // Baileys trusts the stand-in's certificate root: only these processes, only here.
    nodeArgs: ["--import", join(import.meta.dirname, "helpers/wa-trust-root.mjs")],
    env: { JAGA_WA_STANDIN_ROOT: wa.rootKeyHex },
  };
  observer.start();
});

after(async () => {
  signalConsole?.uninstall();
  observer.stop();
  await fleet.killAll();
  await wa?.close();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Row {
  id: string;
  dedupe_key: string;
  text: string;
  sending_at: string | null;
  sent_at: string | null;
  acked_at: string | null;
  dead_at: string | null;
  msg_ids: string[];
}

/** The lease's shared outbox, oldest first, each row with the WhatsApp ids it went out under. */
const outbox = () =>
  stack.sql<Row>(
    `select o.id, o.dedupe_key, o.text, o.sending_at, o.sent_at, o.acked_at, o.dead_at,
            coalesce(array_agg(w.msg_id order by w.msg_id) filter (where w.msg_id is not null), '{}') as msg_ids
       from jaga.outbox o left join jaga.outbox_wa w on w.outbox_id = o.id
      where o.lease = $1 group by o.id order by o.id`,
    [LEASE],
  );

const incidents = () => stack.sql<{ id: string; host: string }>(`select id, host from jaga.incident where lease = $1 and kind = 'unreachable' order by id`, [LEASE]);

/** What the stand-in got in the alert group. */
const groupMessages = () => wa.messages.filter((m) => m.to === ALERT_GROUP);

/** The rows one delivered text carries: one row as it is, several after the pacer's header. */
function rowsOf(text: string): string[] {
  const parts = text.split(BATCH_SEPARATOR);
  return parts.length > 1 ? parts.slice(1) : parts;
}

/** Every row sent, its server ack recorded: nothing left that the next instance could send again. */
const settled = (rows: Row[]) => rows.length > 0 && rows.every((r) => r.sent_at !== null && r.acked_at !== null);

const logsOf = (i: JagaInstance) => i.stderr.slice(-4000);

/** The admin asks; the reply and the connection that carried it. */
async function ask(text: string): Promise<{ reply: string; connection: number }> {
  await until("a socket logged in to take the command", () => wa.isOnline, 60_000);
  const reply = await wa.command(text, 120_000);
  assert.ok(reply, `no reply to ${text}`);
  const carried = wa.messages.filter((m) => m.to === ADMIN_JID && m.text === reply).at(-1);
  return { reply, connection: carried!.connection };
}

describe("one paired WhatsApp session across two real `jaga start` processes (PostgREST)", () => {
  let a: JagaInstance;
  let b: JagaInstance;
  /** The rows a had sent, and those still queued, when it was killed. */
  let sentByA: Row[] = [];
  let leftByA: Row[] = [];

  it("a is active; while its login is held ten alerts queue with its takeover message", async () => {
    wa.hold();
    a = await fleet.spawn("a", options);
    await until("a active", () => activeOf([a]).length === 1, 30_000);
    b = await fleet.spawn("b", options);
    await until("b stands by behind a", () => b.health?.standby?.role === "standby" && b.health.standby.holder?.instance === "a", 30_000);
    await until("ten incidents in the shared desk", async () => (await incidents()).length === HOSTS.length, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logsOf(a)}`);
    });
    await until("a's takeover message and ten opening alerts in the shared outbox", async () => (await outbox()).length === HOSTS.length + 1, 30_000);
    const rows = await outbox();
    // The order is whichever came first: the incidents (straight into the shared desk and outbox)
    // or a's takeover message (queued locally, moved by the pump's first round).
    assert.deepEqual(
      rows.map((r) => r.dedupe_key.split(":")[0]).sort(),
      [...HOSTS.map(() => "incident"), "takeover"],
      rows.map((r) => r.dedupe_key).join("\n"),
    );
    assert.ok(rows.every((r) => r.sent_at === null), "nothing sent: WhatsApp has not let a in");
    assert.equal(wa.stats.logins, 0);
    assert.equal(wa.stats.connections, 1, "a's socket, waiting; b has none");
  });

  it("a logs in as the paired device, sends one paced message and answers the admin", async () => {
    wa.release();
    await wa.online(60_000);
    assert.equal(wa.connections[0]!.jid, session.deviceJid);
    await until("a's first message in the group", () => groupMessages().length === 1, 60_000);
    const { connection } = await ask("/status");
    assert.equal(connection, 1, "a answered");
  });

  it("kill -9 of a with an alert still queued: b takes over as the same device and sends the rest once", async () => {
    // Killed when nothing is in flight: every row a sent is recorded and acked, what is left was
    // never begun (a cut between the socket and "sent" is the one duplicate the outbox allows).
    await until(
      "a's sent rows acked, the rest waiting for the group's pacing",
      async () => {
        const rows = await outbox();
        const sent = rows.filter((r) => r.sent_at !== null);
        const left = rows.filter((r) => r.sent_at === null);
        if (!(sent.length > 0 && left.length > 0 && sent.every((r) => r.acked_at !== null) && left.every((r) => r.sending_at === null))) return false;
        sentByA = sent;
        leftByA = left;
        return true;
      },
      30_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(await outbox(), null, 1)}\n${logsOf(a)}`);
    });
    const last = groupMessages().at(-1)!;
    assert.ok(Date.now() - last.at < (PACING_S - 15) * 1000, "killed well inside the group's pacing interval");
    a.child.kill("SIGKILL");
    assert.deepEqual(await a.exit, { code: null, signal: "SIGKILL" });
    assert.equal(groupMessages().length, 1, "a sent one message to the group");

    await until("b active", () => activeOf([b]).length === 1, 30_000);
    await until("b logged in", () => wa.isOnline && wa.connections.length === 2, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logsOf(b)}`);
    });
    assert.equal(wa.connections[1]!.jid, session.deviceJid, "the same device: no pairing");
    await until("everything sent and acked", async () => settled(await outbox()), 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(await outbox(), null, 1)}\n${logsOf(b)}`);
    });
    const rows = await outbox();
    const takeover = rows.at(-1)!;
    assert.match(takeover.dedupe_key, /^takeover:/);
    assert.match(takeover.text, /^🔄 \*b\* took over as the active Jaga \(a went silent: last heard of at /);
    // What a left is b's to send: on b's socket, under the ids the rows were sent with.
    const byId = new Map(wa.messages.map((m) => [m.id, m]));
    for (const r of [...leftByA, takeover]) {
      const m = rows.find((x) => x.id === r.id)!;
      assert.equal(m.msg_ids.length, 1);
      assert.equal(byId.get(m.msg_ids[0]!)?.connection, 2, `row ${r.dedupe_key} went out on b's socket`);
    }
    for (const r of sentByA) assert.equal(byId.get(r.msg_ids[0]!)?.connection, 1, `row ${r.dedupe_key} stayed a's`);
  });

  it("b answers the admin: it decrypts with the Signal session a wrote (no Bad MAC, no retry asked)", async () => {
    const { connection } = await ask("/status");
    assert.equal(connection, 2, "b answered");
    assert.equal(wa.stats.retryReceipts, 0, "Jaga decrypted everything the admin sent");
  });

  it("SIGTERM of b with a back as the standby: a takes over, again as the same device", async () => {
    a = await fleet.spawn("a", options);
    await until("a stands by behind b", () => a.health?.standby?.role === "standby" && a.health.standby.holder?.instance === "b", 30_000);
    b.child.kill("SIGTERM");
    assert.deepEqual(await b.exit, { code: 0, signal: null });
    await until("a active", () => activeOf([a]).length === 1, 30_000);
    await until("a logged in", () => wa.isOnline && wa.connections.length === 3, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logsOf(a)}`);
    });
    assert.equal(wa.connections[2]!.jid, session.deviceJid);
    await until("a's takeover message sent and acked", async () => {
      const rows = await outbox();
      return rows.length === HOSTS.length + 3 && settled(rows);
    }, 60_000);
    assert.match((await outbox()).at(-1)!.text, /^🔄 \*a\* took over as the active Jaga \(b handed over at /);
    const { connection } = await ask("/status");
    assert.equal(connection, 3, "a answered");
    a.child.kill("SIGTERM");
    assert.deepEqual(await a.exit, { code: 0, signal: null });
    await until("no socket", () => wa.open === 0);
  });

  it("all along: one device, never a pairing, never two at once; every queued message delivered exactly once", async () => {
    assert.equal(wa.stats.registrations, 0, "no pairing");
    assert.ok(wa.stats.logins >= 3);
    assert.deepEqual([...new Set(wa.connections.map((c) => c.jid))], [session.deviceJid], "every socket logged in as the paired device");
    assert.ok(wa.stats.maxConcurrent <= 1, `${wa.stats.maxConcurrent} sockets open at once`);
    assert.ok(wa.stats.maxLoggedIn <= 1, `${wa.stats.maxLoggedIn} sockets logged in at once`);
    assert.deepEqual(observer.violations, []);
    assert.ok(observer.samples > 50, `only ${observer.samples} samples`);
    assert.equal(wa.stats.retryReceipts, 0, "Jaga decrypted everything the admin sent");
    // The admin read every alert with the sender key a distributed once, across three terms.
    assert.deepEqual(groupMessages().filter((m) => m.error || m.text === null).map((m) => `${m.id}: ${m.error}`), []);
    // A reply it could not read (the first of a new term: see the header) it asked for again, as a
    // phone does, and read under the same id.
    for (const m of wa.messages.filter((x) => x.error)) {
      assert.ok(
        wa.messages.some((x) => x.id === m.id && x.at > m.at && x.text !== null),
        `${m.id} (${m.error}) was never read: ${JSON.stringify(wa.messages.filter((x) => x.id === m.id))}`,
      );
    }

    const rows = await outbox();
    assert.equal(rows.length, HOSTS.length + 3, "a's takeover, ten opening alerts (one each, across three terms), b's and a's takeovers");
    assert.equal(new Set(rows.map((r) => r.dedupe_key)).size, rows.length);
    assert.ok(rows.every((r) => r.dead_at === null));
    const group = groupMessages();
    // By id: each group message once, and each one some rows' (nothing sent that was not queued).
    assert.equal(new Set(group.map((m) => m.id)).size, group.length, `a message id twice: ${group.map((m) => m.id).join(" ")}`);
    const rowIds = new Set(rows.flatMap((r) => r.msg_ids));
    assert.deepEqual(group.filter((m) => !rowIds.has(m.id)).map((m) => m.text), [], "a group message no row was sent as");
    // By text: the rows the delivered messages carry are the queued rows, each exactly once.
    const delivered = group.flatMap((m) => rowsOf(m.text ?? ""));
    assert.deepEqual([...delivered].sort(), rows.map((r) => r.text).sort());
    for (const r of rows) {
      assert.equal(r.msg_ids.length, 1, `row ${r.dedupe_key} went out once`);
      const carried = group.filter((m) => m.id === r.msg_ids[0]);
      assert.equal(carried.length, 1);
      assert.ok(rowsOf(carried[0]!.text ?? "").includes(r.text), `row ${r.dedupe_key} is in the message sent under its id`);
    }
    for (const i of fleet.instances) assert.doesNotMatch(i.stderr, /Bad MAC/, `${i.name} logged a Bad MAC`);
  });
});

describe("a command running when the active instance is killed (the same session, restarted)", () => {
  it("kill -9 mid-command: the new active instance says it was cut off — in the group and to the admin — and does not run it again", async () => {
    // Armed on both: whichever is active dies the moment it starts running a command.
    const armed: SpawnOptions = { ...options, env: { ...options.env, JAGA_FAILPOINT: "command.running" } };
    const [a, b] = await Promise.all([fleet.spawn("a", armed), fleet.spawn("b", armed)]);
    await until("one active", () => activeOf([a, b]).length === 1, 30_000);
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    await until("the other stands by behind it", () => other.health?.standby?.holder?.instance === act!.name, 30_000);
    await until("its socket logged in", () => wa.isOnline, 60_000);

    void wa.command("/whoami", 5_000);
    assert.deepEqual(await act!.exit, { code: null, signal: "SIGKILL" }, "killed at the failpoint, mid-command");
    const runs = () => stack.sql<{ command: string; instance: string; outcome: string | null }>("select command, instance, outcome from jaga.command_run where lease = $1 and command = '/whoami'", [LEASE]);
    assert.deepEqual(await runs(), [{ command: "/whoami", instance: act!.name, outcome: null }], "on record as running when it died");

    await until("the other active and logged in", () => activeOf([other]).length === 1 && wa.isOnline, 60_000);
    const said = (re: RegExp) => wa.messages.filter((m) => m.text !== null && re.test(m.text));
    const cutOff = new RegExp(`✂️ Cut off when ${act!.name} stopped, and not run again .*: \`/whoami\` \\(Admin, \\d\\d:\\d\\d:\\d\\d\\)`);
    await until("the takeover message in the group, naming the command", () => said(cutOff).length > 0, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${wa.messages.map((m) => m.text).join("\n---\n")}\n${logsOf(other)}`);
    });
    assert.equal(said(cutOff)[0]!.to, ALERT_GROUP);
    const toAdmin = new RegExp(`^✂️ \`/whoami\` was running on \\*${act!.name}\\* when it stopped .*\\*${other.name}\\* is the active Jaga now\\.$`);
    await until("the admin told in the chat it was asked in", () => said(toAdmin).length > 0, 60_000);
    assert.notEqual(said(toAdmin)[0]!.to, ALERT_GROUP);
    assert.deepEqual(await runs(), [{ command: "/whoami", instance: act!.name, outcome: "cut off" }]);
    assert.equal(said(/^👤 /).length, 0, "never run: no /whoami answer from anyone");
    other.child.kill("SIGTERM");
    assert.deepEqual(await other.exit, { code: 0, signal: null });
  });
});
