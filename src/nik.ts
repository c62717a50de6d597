/**
 * NIK (Nomor Induk Kependudukan, the 16-digit number on a KTP): checked before anything is
 * written, and masked before it is shown anywhere.
 *
 * Layout: PP KK CC DDMMYY SSSS — province, regency, district, birth date (day + 40 for women),
 * serial. Only what can be checked offline is checked; each rejection names the rule it broke.
 *
 * @example
 * checkNik("3174015501900001"); // null: valid (a woman born 15 Jan 1990 in Jakarta)
 * checkNik("9974015501900001"); // { rule: "province", params: { code: "99" } }
 * maskNik("3174015501900001");  // "3174••••••••0001"
 */
import { z } from "zod";

/**
 * Province codes as Dukcapil writes them in the first two digits of a NIK (Kemendagri region
 * codes): the 34 provinces and the Papua provinces of 2022. A NIK keeps the province it was
 * issued in, so codes never leave this list; new ones are added here.
 */
export const PROVINCE_CODES: ReadonlyMap<string, string> = new Map([
  ["11", "Aceh"],
  ["12", "Sumatera Utara"],
  ["13", "Sumatera Barat"],
  ["14", "Riau"],
  ["15", "Jambi"],
  ["16", "Sumatera Selatan"],
  ["17", "Bengkulu"],
  ["18", "Lampung"],
  ["19", "Kepulauan Bangka Belitung"],
  ["21", "Kepulauan Riau"],
  ["31", "DKI Jakarta"],
  ["32", "Jawa Barat"],
  ["33", "Jawa Tengah"],
  ["34", "DI Yogyakarta"],
  ["35", "Jawa Timur"],
  ["36", "Banten"],
  ["51", "Bali"],
  ["52", "Nusa Tenggara Barat"],
  ["53", "Nusa Tenggara Timur"],
  ["61", "Kalimantan Barat"],
  ["62", "Kalimantan Tengah"],
  ["63", "Kalimantan Selatan"],
  ["64", "Kalimantan Timur"],
  ["65", "Kalimantan Utara"],
  ["71", "Sulawesi Utara"],
  ["72", "Sulawesi Tengah"],
  ["73", "Sulawesi Selatan"],
  ["74", "Sulawesi Tenggara"],
  ["75", "Gorontalo"],
  ["76", "Sulawesi Barat"],
  ["81", "Maluku"],
  ["82", "Maluku Utara"],
  // Papua: the 2022 split numbered the new provinces differently in different registers
  // (Kemendagri 93–96, BPS 92 and 95–97). Every code either list uses is accepted: refusing a
  // real NIK would be worse than letting one odd code through.
  ["91", "Papua / Papua Barat"],
  ["92", "Papua Barat / Papua Barat Daya"],
  ["93", "Papua Selatan"],
  ["94", "Papua / Papua Tengah"],
  ["95", "Papua Pegunungan / Papua Selatan"],
  ["96", "Papua Barat Daya / Papua Tengah"],
  ["97", "Papua Pegunungan"],
]);

/** The rules, in the order they are checked; each is an i18n key `nik.<rule>`. */
export type NikRule = "length" | "digits" | "province" | "day" | "month" | "date" | "serial";

export interface NikProblem {
  rule: NikRule;
  params: Record<string, string | number>;
}

/**
 * The first rule `nik` breaks, or null when it is a plausible NIK.
 *
 * @example
 * checkNik("3174013102900001"); // { rule: "date", params: { date: "31-02" } }
 */
export function checkNik(nik: string): NikProblem | null {
  if (!/^\d*$/.test(nik)) return { rule: "digits", params: {} };
  if (nik.length !== 16) return { rule: "length", params: { length: nik.length } };
  const province = nik.slice(0, 2);
  if (!PROVINCE_CODES.has(province)) return { rule: "province", params: { code: province } };
  const rawDay = Number(nik.slice(6, 8));
  const month = Number(nik.slice(8, 10));
  const yy = Number(nik.slice(10, 12));
  const day = rawDay > 40 ? rawDay - 40 : rawDay;
  if (day < 1 || day > 31) return { rule: "day", params: { day: nik.slice(6, 8) } };
  if (month < 1 || month > 12) return { rule: "month", params: { month: nik.slice(8, 10) } };
  // Two-digit year: 19yy and 20yy agree on leap years except 1900, which no living holder has.
  const daysInMonth = [31, yy % 4 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  if (day > daysInMonth) return { rule: "date", params: { date: `${pad(day)}-${pad(month)}-${pad(yy)}` } };
  if (nik.slice(12) === "0000") return { rule: "serial", params: {} };
  return null;
}

/**
 * Masks a NIK for chat and logs: province and regency (4 digits) and the serial stay visible.
 *
 * @example
 * maskNik("3174015501900001"); // "3174••••••••0001"
 */
export function maskNik(nik: string): string {
  return nik.length === 16 ? `${nik.slice(0, 4)}••••••••${nik.slice(12)}` : "••••";
}

/**
 * The zod argument for a NIK typed in chat: spaces, dots and dashes people type are removed,
 * then {@link checkNik}; the message is the i18n key of the broken rule.
 *
 * @example
 * args: z.object({ nik: nikArg })
 */
export const nikArg = z
  .string()
  .transform(normalizeNik)
  .superRefine((nik, ctx) => {
    const problem = checkNik(nik);
    if (problem) ctx.addIssue({ code: "custom", message: `nik.${problem.rule}`, params: problem.params });
  });

/**
 * A NIK as typed, reduced to its digits: the spaces, dots and dashes people write between
 * groups are removed (nothing else is), so it is validated and stored as 16 plain digits.
 *
 * @example
 * normalizeNik("3174.0115.0590.0002"); // "3174011505900002"
 * normalizeNik("3201-0112-0388-0008"); // "3201011203880008"
 */
export function normalizeNik(typed: string): string {
  return typed.replace(/[\s.-]/g, "");
}

/**
 * Splits chat tokens into the NIK and what follows: a NIK typed in groups with spaces
 * (`31 74 01 150590 0002`) arrives as several tokens, which are joined while they are digit
 * groups and the NIK is still short of 16 digits.
 *
 * @example
 * nikTokens(["31", "74", "01", "150590", "0002", "fraud"]); // { nik: "31 74 01 150590 0002", rest: ["fraud"] }
 */
export function nikTokens(tokens: readonly string[]): { nik: string | undefined; rest: string[] } {
  let i = 0;
  let digits = 0;
  while (i < tokens.length && /^[\d.-]+$/.test(tokens[i]!) && (i === 0 || digits < 16)) {
    digits += normalizeNik(tokens[i]!).length;
    i++;
  }
  if (i === 0) return { nik: tokens[0], rest: tokens.slice(1) };
  return { nik: tokens.slice(0, i).join(" "), rest: tokens.slice(i) };
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
