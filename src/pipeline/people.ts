/**
 * Who is talking: a transport's sender id mapped to a person from the config. The console
 * operator is always an admin — whoever holds the terminal holds the machine anyway.
 *
 * @example
 * const person = directory.lookup("6281234567890"); // or undefined: ignored, counted
 */
import type { Config } from "../config/load.js";
import { normalizePhone, type Role } from "../config/schema.js";
import type { Lang } from "../i18n/index.js";
import { CONSOLE_SENDER } from "../chat/console.js";

export interface Person {
  id: string;
  name: string;
  role: Role;
  language: Lang;
}

export class Directory {
  private readonly people = new Map<string, Person>();

  constructor(config: Pick<Config, "people" | "language">) {
    this.people.set(CONSOLE_SENDER, { id: CONSOLE_SENDER, name: "console", role: "admin", language: config.language });
    for (const p of config.people) {
      this.people.set(p.phone, { id: p.phone, name: p.name, role: p.role, language: p.language ?? config.language });
    }
  }

  lookup(senderId: string): Person | undefined {
    return this.people.get(senderId) ?? this.people.get(normalizePhone(senderId));
  }
}
