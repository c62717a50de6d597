/** /block, /unblock, /blocked through the real pipeline and SQLite store: roles, NIK checks, masking. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import block from "../commands/block.js";
import blocked from "../commands/blocked.js";
import unblock from "../commands/unblock.js";
import { ManualClock } from "../src/clock.js";
import { harness, type Harness } from "./helpers/harness.js";

const ADMIN = "628111000003";
const OPERATOR = "628111000002";
const ADMIN_ID = "628111000004";
const NIK = "3174015501900001";
const MASKED = "3174••••••••0001";

let h: Harness;
const clock = new ManualClock(Date.parse("2026-02-26T00:10:00Z"));
before(() => {
  h = harness(
    {
      language: "en",
      people: [
        { phone: ADMIN, name: "Ana", role: "admin", language: "en" },
        { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
        { phone: ADMIN_ID, name: "Budi", role: "admin", language: "id" },
      ],
    },
    { clock, commands: [block, unblock, blocked] },
  );
});
after(async () => {
  await h?.close();
});

describe("/block", () => {
  it("blocks with a free-text reason and never shows the NIK whole", async () => {
    const reply = (await h.send(`/block ${NIK} fake KJP claims, twice`, { as: ADMIN }))!;
    assert.equal(reply, `⛔ NIK \`${MASKED}\` blocked. Reason: fake KJP claims, twice`);
    const [audit] = await h.store.audit.recent(1);
    assert.ok(audit && !audit.args.includes(NIK) && audit.args.includes(MASKED), audit?.args);
    assert.equal((await h.store.blocked.active(NIK))?.reason, "fake KJP claims, twice");
  });

  it("answers a duplicate with 'already blocked since <date>'", async () => {
    clock.set(clock.now() + 3_600_000);
    const reply = (await h.send(`/block ${NIK} again`, { as: ADMIN }))!;
    assert.equal(reply, `ℹ️ NIK \`${MASKED}\` is already blocked since 26-02-2026 07:10 (by Ana).`);
    const id = (await h.send(`/block ${NIK}`, { as: ADMIN_ID }))!;
    assert.match(id, /sudah diblokir sejak 26-02-2026 07:10/);
  });

  it("says which NIK rule failed, before anything is written", async () => {
    const cases: [string, RegExp][] = [
      ["31740155019", /has 16 digits \(this one has 11\)/],
      ["9974015501900001", /province code `99`/],
      ["3174013201900001", /birth day `32`/],
      ["3174015513900001", /birth month `13`/],
      ["3174017102900001", /birth date 31-02-90 does not exist/],
      ["3174015501900000", /serial number 0000/],
    ];
    for (const [nik, message] of cases) {
      const reply = (await h.send(`/block ${nik} x`, { as: ADMIN }))!;
      assert.match(reply, message, nik);
      assert.match(reply, /Usage: `\/block <nik> \[reason\]`/);
    }
    assert.equal((await h.store.blocked.history("9974015501900001")).length, 0);
  });

  it("is for admins only", async () => {
    assert.match((await h.send(`/block 3174015501900002`, { as: OPERATOR }))!, /needs the role \*admin\*/);
  });
});

describe("/blocked and /unblock", () => {
  it("an operator checks a NIK; an admin unblocks it; the history stays", async () => {
    assert.match((await h.send(`/blocked ${NIK}`, { as: OPERATOR }))!, new RegExp(`^⛔ NIK \`${MASKED}\` is blocked since 26-02-2026 07:10 by Ana`));
    assert.match((await h.send(`/unblock ${NIK}`, { as: OPERATOR }))!, /needs the role/);
    const plan = (await h.send(`/unblock ${NIK}`, { as: ADMIN }))!;
    assert.match(plan, new RegExp(`^⚠️ \\*Confirm /unblock\\*\\nNIK \`${MASKED}\` will be unblocked \\(blocked since 26-02-2026 07:10 by Ana: `));
    assert.ok(await h.store.blocked.active(NIK), "still blocked until confirmed");
    const code = /\/yes (\d{4})/.exec(plan)![1]!;
    assert.equal((await h.send(`/yes ${code}`, { as: ADMIN }))!, `✅ NIK \`${MASKED}\` unblocked (was blocked since 26-02-2026 07:10).`);
    assert.equal((await h.send(`/unblock ${NIK}`, { as: ADMIN }))!, `ℹ️ NIK \`${MASKED}\` is not blocked.`);
    const status = (await h.send(`/blocked ${NIK}`, { as: OPERATOR }))!;
    assert.match(status, /is not blocked\.\nHistory: blocked 1 time\(s\) before, last unblocked 26-02-2026 08:10 by Ana\./);
    assert.ok(!status.includes(NIK));
  });
});
