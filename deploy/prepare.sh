#!/bin/sh
# npm's `prepare` (runs after `npm ci`): build dist/ with TypeScript when the dev packages are
# installed. Without them (`npm ci --omit=dev`) use dist/ only if it is there and no source is
# newer; otherwise say how to install instead of failing at "tsc: not found".
set -e
# `npx jaga` links this project into npx's cache to run its bin, which runs `prepare` too:
# neither rebuild nor fail there (a failed prepare leaves npx's cache broken for later calls).
if [ "${npm_command:-}" = "exec" ]; then
  exit 0
fi
if [ -x node_modules/.bin/tsc ]; then
  exec npm run build
fi
if [ -f dist/src/cli.js ] && [ -z "$(find src commands -newer dist/src/cli.js 2>/dev/null | head -n 1)" ]; then
  echo "jaga: no TypeScript here (--omit=dev): using the build in dist/"
  exit 0
fi
echo "jaga: dist/ is missing or older than the sources, and building it needs the dev packages." >&2
echo "jaga: install with: npm ci && npm prune --omit=dev" >&2
exit 1
