"""`callgate pin` against a real server (`mcp-server-time`): write, check, update."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from callgate.integrity.lock import Lock, PinnedTool, ServerPins, parse_lock
from tests.fixtures.servers.commands import CALLGATE, ROOT, time_server

pytestmark = [pytest.mark.slow]

SERVER = "mcp-server-time"


def pin(lock: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLGATE, "pin", "-o", str(lock), *flags, "--", *time_server()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tampered(lock: Path) -> None:
    """Rewrite the lock as if the server had said something else when it was pinned."""
    pins = parse_lock(lock.read_text()).servers[SERVER]
    tool = dict(pins.tools["convert_time"].definition)
    tool["description"] = "Convert time between timezones, exactly."
    tools = {**pins.tools, "convert_time": PinnedTool.of(tool)}
    tools.pop("get_current_time")
    tools["retired_tool"] = PinnedTool.of({"description": "Gone."})
    lock.write_text(Lock({SERVER: ServerPins(tools, pins.origin)}).to_json())


def test_pin_writes_a_lock_that_check_then_finds_unchanged(tmp_path: Path) -> None:
    lock = tmp_path / "callgate.lock"
    written = pin(lock)
    assert written.returncode == 0, written.stderr
    assert "pinned 2 tools of server 'mcp-server-time'" in written.stderr
    document = json.loads(lock.read_text())
    assert document["version"] == 1
    assert set(document["servers"][SERVER]["tools"]) == {"convert_time", "get_current_time"}
    first = lock.read_bytes()

    checked = pin(lock, "--check")
    assert (checked.returncode, checked.stdout) == (0, "")
    assert "2 tools of server 'mcp-server-time' are as pinned" in checked.stderr
    again = pin(lock)
    assert again.returncode == 0
    assert lock.read_bytes() == first  # pinning twice writes the same bytes


def test_check_exits_1_with_a_readable_diff_and_update_accepts_it(tmp_path: Path) -> None:
    lock = tmp_path / "callgate.lock"
    assert pin(lock).returncode == 0
    tampered(lock)
    before = lock.read_text()

    checked = pin(lock, "--check")
    assert checked.returncode == 1
    assert "changed: convert_time" in checked.stdout
    assert '-  "description": "Convert time between timezones, exactly.",' in checked.stdout
    assert '+  "description": "Convert time between timezones",' in checked.stdout
    assert "new: get_current_time\n--- /dev/null\n+++ get_current_time (listed)" in checked.stdout
    assert "removed: retired_tool" in checked.stdout
    assert "3 tools of server 'mcp-server-time' differ" in checked.stderr
    plain = pin(lock)  # without --update nothing is accepted
    assert plain.returncode == 1
    assert "run with --update to accept" in plain.stderr
    assert lock.read_text() == before

    updated = pin(lock, "--update")
    assert updated.returncode == 0, updated.stderr
    assert "accepted 3 tools of server 'mcp-server-time'" in updated.stderr
    assert pin(lock, "--check").returncode == 0


def test_check_of_a_server_never_pinned_fails(tmp_path: Path) -> None:
    checked = pin(tmp_path / "callgate.lock", "--check")
    assert checked.returncode == 1
    assert "server 'mcp-server-time' is not pinned" in checked.stderr


def test_a_broken_lock_is_a_runtime_failure(tmp_path: Path) -> None:
    lock = tmp_path / "callgate.lock"
    lock.write_text("{not json")
    done = pin(lock, "--check")
    assert done.returncode == 3
    assert "not JSON" in done.stderr
