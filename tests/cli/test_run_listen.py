"""`callgate run --listen`: agents authenticate with the bearer tokens of the policy."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fixtures.servers.commands import ROOT, SDK_SERVER, callgate_run
from tests.fixtures.servers.raw_session import INITIALIZE

pytestmark = pytest.mark.slow

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[str]:
    """A `callgate run --listen 127.0.0.1:0` process with two agents; yields its URL."""
    digest = hashlib.sha256(b"alice-token").hexdigest()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'version: "1"\n'
        "agents:\n"
        f"  - {{name: alice, token_sha256: {digest}}}\n"
        "  - {name: bob, token_env: BOB_TOKEN}\n"
    )
    command = callgate_run(policy, tmp_path / "audit.jsonl", SDK_SERVER, "--listen", "127.0.0.1:0")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "BOB_TOKEN": "bob-token"}
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            found = re.search(r"listening on (http://\S+/mcp)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "callgate did not start listening"
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _initialize(url: str, token: str | None) -> Any:
    headers = dict(HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url, json=INITIALIZE, headers=headers, timeout=30)


def test_only_agents_with_a_known_token_are_served(listening: str) -> None:
    assert _initialize(listening, None).status_code == 401
    assert _initialize(listening, "guess").status_code == 401
    for token in ("alice-token", "bob-token"):
        answer = _initialize(listening, token)
        assert answer.status_code == 200, answer.text
        assert "sdk-fixture" in answer.text
