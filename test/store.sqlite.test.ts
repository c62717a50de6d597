/** The store contract on the embedded SQLite store (in memory), plus what only SQLite has. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { ReplicatedStore } from "../src/store/replicated.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { SupabaseStore } from "../src/store/supabase/store.js";
import { alertingContract, freshNik, storeContract } from "./store.contract.js";

storeContract("sqlite", () => Promise.resolve(openSqliteStore(":memory:")));
alertingContract("sqlite", () => Promise.resolve(openSqliteStore(":memory:")));
// The replicated store's local side: its replayer is never started, so the (closed) loopback
// port behind it is never asked; every change also leaves a replication row, counted above.
alertingContract("replicated (SQLite + a Supabase never reached)", () =>
  Promise.resolve(
    new ReplicatedStore(
      openSqliteStore(":memory:"),
      new SupabaseStore(createSupabaseClient({ url: "http://127.0.0.1:9", key: "unused" })),
      new ManualClock(0),
      silentLogger,
    ),
  ),
);

it("sqlite: the NIK column refuses anything but 16 digits", () => {
  const store = openSqliteStore(":memory:");
  try {
    assert.throws(() => store.db.prepare(`INSERT INTO blocked_ktp (nik, blocked_by, blocked_at) VALUES ('31740155019000a1', 'x', 0)`).run(), /CHECK/);
    assert.throws(() => store.db.prepare(`INSERT INTO blocked_ktp (nik, blocked_by, blocked_at) VALUES ('317401550190001', 'x', 0)`).run(), /CHECK/);
    assert.match(freshNik(), /^\d{16}$/);
  } finally {
    void store.close();
  }
});
