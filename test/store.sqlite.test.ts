/** The store contract on the embedded SQLite store (in memory), plus what only SQLite has. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { freshNik, storeContract } from "./store.contract.js";

storeContract("sqlite", () => Promise.resolve(openSqliteStore(":memory:")));

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
