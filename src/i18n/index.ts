/**
 * Every user-facing string, in Indonesian (`id`, the default) and English (`en`).
 *
 * @example
 * const t = translator("en");
 * t("host.unknown", { host: "stb", hosts: "local" }); // "❓ Unknown host `stb`. ..."
 */
import { en } from "./en.js";
import { id, type MessageKey } from "./id.js";

export type Lang = "id" | "en";
export type { MessageKey };
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

const dictionaries: Record<Lang, Record<MessageKey, string>> = { id, en };

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(id, key);
}

/** Fills `{name}` placeholders; an unknown placeholder stays visible rather than vanishing. */
export function format(template: string, params: Params = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

export function translator(lang: Lang): Translate {
  const dict = dictionaries[lang];
  return (key, params) => format(dict[key], params);
}

/** A message that is translated late, when the reader's language is known. */
export interface Text {
  key: MessageKey;
  params?: Params;
}
