/**
 * The host DNS detector: getent's "not found" opens a "DNS broken" incident with the command to
 * try, and it resolves when the name answers again; any other failure of the check (a timeout, a
 * missing getent, an error) says nothing about DNS and opens nothing. A stand-in getent comes
 * first on PATH, because a real failing lookup would need a resolver off this machine.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startPm2, type TestPm2 } from "./helpers/pm2.js";
import { watchHarness } from "./helpers/watch.js";

let pm2: TestPm2;
const PATH = process.env.PATH;
const dir = mkdtempSync(join(tmpdir(), "jaga-dns-"));
before(async () => {
  process.env.PATH = `${join(ROOT, "test/fixtures/bin")}:${PATH}`;
  pm2 = await startPm2({});
  await pm2.cli("ping");
});
after(async () => {
  process.env.PATH = PATH;
  await pm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const dnsAlerts = (alerts: string[]) => alerts.filter((a) => a.startsWith("🌐 *DNS broken*"));

describe("host DNS detector", () => {
  it("opens an incident when the name is not found, and resolves it when it answers again", async () => {
    const file = join(dir, "jaga.db");
    const broken = watchHarness({ hosts: [pm2.hostConfig()], watch: { dns: { enabled: true, name: "broken.test" } } }, { file });
    try {
      await broken.watch.watchers[0]!.tick();
      const [alert] = dnsAlerts(broken.alerts());
      assert.equal(alert, "🌐 *DNS broken* · *local*\n`broken.test` does not resolve on this host.\n*Actions:* 1 `/dns check local` · 2 `/dns fix local` · 3 `/status local`\nIncident #1 · reply with a number, or `/do 1 <n>` · `/ack 1`");
    } finally {
      await broken.close();
    }
    // The resolver is fixed (here: the name now answers), and the same store sees it.
    const fixed = watchHarness({ hosts: [pm2.hostConfig()], watch: { dns: { enabled: true, name: "localhost" } } }, { file });
    try {
      await fixed.watch.watchers[0]!.tick();
      assert.match(fixed.alerts().at(-1)!, /^✅ Resolved: #1 DNS broken · \*local\* — back to normal \(lasted \d+s\)\.$/);
      assert.equal((await fixed.store.incidents.listOpen()).length, 0);
    } finally {
      await fixed.close();
    }
  });

  it("opens nothing when the check itself fails for another reason", async () => {
    const flaky = watchHarness({ hosts: [pm2.hostConfig()], watch: { dns: { enabled: true, name: "flaky.test" } } });
    try {
      await flaky.watch.watchers[0]!.tick();
      await flaky.watch.watchers[0]!.tick();
      assert.deepEqual(dnsAlerts(flaky.alerts()), []);
      assert.equal((await flaky.store.incidents.listOpen()).length, 0);
    } finally {
      await flaky.close();
    }
  });
});
