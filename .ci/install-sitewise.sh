#!/usr/bin/env bash
# Installs the AWS IoT SiteWise MCP server (73 tools with SITEWISE_MCP_ALLOW_WRITES=True)
# into its own venv, .cache/venvs/sitewise: it needs mcp<2, which cannot share the project
# venv (mcp 2.x); tests/cli/test_scan_sitewise.py starts it as a separate stdio process.
# Versions are pinned in .ci/sitewise-requirements.txt (pip freeze of a working install);
# a venv installed from the same file is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$PWD/.cache/pip}"

venv=.cache/venvs/sitewise
requirements=.ci/sitewise-requirements.txt
server="$venv/bin/awslabs.aws-iot-sitewise-mcp-server"
stamp="$venv/.callgate-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$server" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

echo "== pip install $(grep -i '^awslabs' "$requirements") ($venv)"
rm -rf "$venv"
python3 -m venv "$venv"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-deps: the file pins every package, so pip resolves nothing; --no-compile: the
# server compiles what it imports on first start.
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-compile \
    -r "$requirements" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2 || true
    echo "install-sitewise: pip install failed" >&2
    exit 1
fi
"$venv/bin/python" -m pip check --disable-pip-version-check >"$log" 2>&1 \
    || { cat "$log" >&2; echo "install-sitewise: broken requirements" >&2; exit 1; }
[ -x "$server" ] || { echo "install-sitewise: $server missing after install" >&2; exit 1; }
"$venv/bin/python" -c 'import awslabs.aws_iot_sitewise_mcp_server.server' \
    || { echo "install-sitewise: the server does not import" >&2; exit 1; }
echo "$want" >"$stamp"
