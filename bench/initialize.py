"""Time to the `initialize` result through `callgate run --listen HOST:PORT -- CMD`.

    python bench/initialize.py [--sessions N] [--gap SECONDS] [--json FILE]

Starts `callgate run --listen 127.0.0.1:0 -- python tests/transports/upstream_server.py
stdio` (an SDK `MCPServer` over stdio), then opens N 2025-11-25 sessions one after
another: POST `initialize`, time until its result arrives, DELETE the session. Between
sessions it waits `--gap` seconds, as clients arrive now and then rather than in a burst
(with a warm spare child the gap is what lets the next spare finish starting). Sessions
opened back to back (`--gap 0`) show the worst case. Prints min, p50 and max.

The same numbers with callgate's spare child switched off come from
`CALLGATE_SPARE_CHILD=0` in callgate's environment (the `--no-spare` flag here).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the initialize request the tests send

from tests.fixtures.servers.raw_session import INITIALIZE  # noqa: E402

SERVER = [sys.executable, str(ROOT / "tests" / "transports" / "upstream_server.py"), "stdio"]
POLICY = 'version: "1"\ndefault: allow\n'
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def start_callgate(directory: Path, spare: bool) -> tuple[subprocess.Popen[bytes], str]:
    """`callgate run --listen 127.0.0.1:0 -- SERVER`; returns it and its /mcp URL."""
    policy = directory / "policy.yaml"
    policy.write_text(POLICY)
    env = {**os.environ, "XDG_DATA_HOME": str(directory / "data")}
    if not spare:
        env["CALLGATE_SPARE_CHILD"] = "0"
    command = [
        sys.executable, "-m", "callgate", "run", "-c", str(policy), "--state", "memory://",
        "--no-audit", "--listen", "127.0.0.1:0", "--", *SERVER,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    for raw in process.stderr:
        found = re.search(r"callgate listening on (http://\S+/mcp)", raw.decode())
        if found:
            return process, found.group(1)
    raise RuntimeError(f"callgate exited with {process.wait()} before listening")


def time_initialize(client: httpx2.Client, url: str) -> float:
    """Seconds from sending `initialize` to reading its result; the session is then closed."""
    started = time.perf_counter()
    response = client.post(url, json=INITIALIZE, headers=HEADERS)
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or b'"result"' not in body:
        raise RuntimeError(f"initialize failed: HTTP {response.status_code} {body[:200]!r}")
    session = response.headers["mcp-session-id"]
    client.delete(url, headers={"mcp-session-id": session, **HEADERS})
    return elapsed


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between sessions")
    parser.add_argument("--no-spare", action="store_true", help="callgate without a spare")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_callgate(Path(tmp), spare=not args.no_spare)
        try:
            with httpx2.Client(timeout=30) as client:
                times = []
                for _ in range(args.sessions):
                    time.sleep(args.gap)  # a bench, not a test: clients arrive now and then
                    times.append(time_initialize(client, url))
        finally:
            process.terminate()
            process.wait(timeout=30)
    ms = sorted(t * 1000 for t in times)
    label = "without spare" if args.no_spare else "with spare"
    numbers = {
        "label": label,
        "gap_s": args.gap,
        "sessions": args.sessions,
        "min_ms": round(ms[0], 1),
        "p50_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
    }
    print(
        f"initialize through --listen -- CMD ({label}, {args.sessions} sessions, "
        f"{args.gap} s apart): min {numbers['min_ms']} ms, p50 {numbers['p50_ms']} ms, "
        f"max {numbers['max_ms']} ms"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
