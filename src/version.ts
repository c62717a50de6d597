import { readFileSync } from "node:fs";

/** Jaga's version, from package.json (read once; works from src/ under tsx and from dist/). */
export const VERSION: string = (() => {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // try the next location
    }
  }
  return "0.0.0";
})();
