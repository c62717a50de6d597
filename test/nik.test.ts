/** NIK checks: each rule, in order, with the rule named; masking. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkNik, maskNik, nikArg, PROVINCE_CODES } from "../src/nik.js";

describe("checkNik", () => {
  it("accepts plausible NIKs, men and women", () => {
    assert.equal(checkNik("3174011501900001"), null); // man, 15-01-1990
    assert.equal(checkNik("3174015501900001"), null); // woman, day 15 + 40
    assert.equal(checkNik("1101012902000001"), null); // 29-02-2000, leap year
    assert.equal(checkNik("9471017112990001"), null); // woman, 31-12-1999, Papua
  });

  const cases: [string, string, Record<string, string | number>][] = [
    ["31740115019000", "length", { length: 14 }],
    ["31740115019000011", "length", { length: 17 }],
    ["3174O11501900001", "digits", {}],
    ["9974011501900001", "province", { code: "99" }],
    ["2074011501900001", "province", { code: "20" }],
    ["3174013201900001", "day", { day: "32" }],
    ["3174010001900001", "day", { day: "00" }],
    ["3174017201900001", "day", { day: "72" }],
    ["3174011513900001", "month", { month: "13" }],
    ["3174011500900001", "month", { month: "00" }],
    ["3174013102900001", "date", { date: "31-02-90" }],
    ["3174012902010001", "date", { date: "29-02-01" }],
    ["3174017104900001", "date", { date: "31-04-90" }],
    ["3174011501900000", "serial", {}],
  ];
  for (const [nik, rule, params] of cases) {
    it(`rejects ${nik}: ${rule}`, () => assert.deepEqual(checkNik(nik), { rule, params }));
  }

  it("knows the 38 provinces under every Papua numbering in use, and nothing outside 11..97", () => {
    assert.equal(PROVINCE_CODES.size, 39);
    for (const code of PROVINCE_CODES.keys()) assert.ok(Number(code) >= 11 && Number(code) <= 97);
    assert.equal(PROVINCE_CODES.get("31"), "DKI Jakarta");
    for (const papua of ["91", "92", "93", "94", "95", "96", "97"]) assert.ok(PROVINCE_CODES.has(papua), papua);
    assert.equal(PROVINCE_CODES.has("98"), false);
  });
});

describe("nikArg and maskNik", () => {
  it("drops the separators people type, and names the broken rule as an i18n key", () => {
    assert.equal(nikArg.parse("3174-0115-0190-0001"), "3174011501900001");
    const r = nikArg.safeParse("9974011501900001");
    assert.equal(r.success, false);
    assert.equal(r.error?.issues[0]?.message, "nik.province");
  });

  it("masks all but the first four and the last four digits", () => {
    assert.equal(maskNik("3174015501900001"), "3174••••••••0001");
  });
});
