"""The AWS IoT SiteWise MCP server (73 tools with writes on): classified, scanned, enforced.

The server needs `mcp<2`, so it lives in its own venv, `.cache/venvs/sitewise`, which
`.ci/install-sitewise.sh` creates; it runs as a separate stdio process like any upstream.
No AWS credentials are needed: the server starts and lists its tools without them, and a
call that reaches AWS fails upstream, which is still a forwarded call.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent
from ruamel.yaml import YAML

from callgate.audit import read_records
from tests.fixtures.servers.commands import CALLGATE, ROOT, callgate_run, recorded, stdio_params

pytestmark = pytest.mark.slow

SERVER = ROOT / ".cache" / "venvs" / "sitewise" / "bin" / "awslabs.aws-iot-sitewise-mcp-server"
TIMEOUT = 180
ASSET = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def sitewise() -> list[str]:
    """The server's command line; a missing venv fails the test with the way to fix it."""
    if not SERVER.is_file():
        pytest.fail(f"{SERVER} is missing: run .ci/install-sitewise.sh", pytrace=False)
    return [str(SERVER)]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Writes on, a region, and no way to find credentials (no files, no instance metadata)."""
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("AWS_")},
        "SITEWISE_MCP_ALLOW_WRITES": "True",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


def _callgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLGATE, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=env,
        check=False,
    )


def _load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def _text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def test_classify_sorts_the_73_tools_into_plausible_categories(
    sitewise: list[str], env: dict[str, str]
) -> None:
    done = _callgate(env, "classify", "--format", "json", "--", *sitewise)

    assert done.returncode == 0, done.stderr
    verdicts = {row["name"]: row for row in json.loads(done.stdout)}
    assert len(verdicts) == 73
    category = {name: row["category"] for name, row in verdicts.items()}
    for name, expected in {
        "create_asset": "write",
        "update_asset_model": "write",
        "update_gateway": "write",
        "delete_asset": "destructive",
        "delete_gateway": "destructive",
        "delete_time_series": "destructive",
        "describe_asset": "read",
        "list_assets": "read",
        "get_asset_property_value": "read",
        "execute_query": "execute",
    }.items():
        assert category[name] == expected, (name, verdicts[name]["reasons"])
    # Every delete_* is destructive, and nothing named create_/update_/delete_ reads.
    deletes = {name for name in category if name.startswith("delete_")}
    assert deletes and {category[name] for name in deletes} == {"destructive"}
    changing = [n for n in category if n.startswith(("create_", "update_", "delete_"))]
    assert all(category[name] != "read" for name in changing)
    assert all(category[n] == "read" for n in category if n.startswith(("describe_", "list_")))
    counts = Counter(category.values())
    assert counts["read"] > counts["write"] > counts["destructive"] > 0


def test_scanned_policy_validates_and_its_generated_tests_pass(
    sitewise: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "sitewise.yaml"

    scanned = _callgate(env, "scan", "-o", str(policy), "--", *sitewise)

    assert scanned.returncode == 0, scanned.stderr
    assert "73 tools; 73 added" in scanned.stderr
    tools = _load(policy)["tools"]
    assert len(tools) == 73
    assert tools["delete_asset"]["category"] == "destructive"
    assert tools["create_asset"]["category"] == "write"
    assert tools["describe_asset"]["category"] == "read"
    validated = _callgate(env, "validate", "-c", str(policy))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    tested = _callgate(env, "test", str(tmp_path / "sitewise.test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " 0 failed" in tested.stdout
    cases = _load(tmp_path / "sitewise.test.yaml")["cases"]
    assert f"{len(cases)} passed, 0 failed" in tested.stdout


@pytest.mark.anyio
async def test_callgate_run_enforces_the_scanned_policy_in_front_of_the_server(
    sitewise: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "sitewise.yaml"
    scanned = _callgate(env, "scan", "-o", str(policy), "--", *sitewise)
    assert scanned.returncode == 0, scanned.stderr
    # The user's edit on top of the scan: one destructive tool hidden outright.
    text = policy.read_text()
    policy.write_text(text.replace("\ntools:\n", "\nhide:\n  - delete_gateway\ntools:\n", 1))
    audit = tmp_path / "audit"
    received = tmp_path / "received.jsonl"
    command = callgate_run(policy, audit, recorded(received, sitewise))

    with anyio.fail_after(120):
        async with Client(stdio_params(command, env), mode="legacy") as client:
            listed = await client.list_tools()
            converted = await client.call_tool("convert_unix_timestamp", {"timestamp": 0})
            described = await client.call_tool("describe_asset", {"asset_id": ASSET})
            deletion = await client.call_tool("delete_asset", {"asset_id": ASSET})
            hidden = await client.call_tool("delete_gateway", {"gateway_id": "g-1"})

    names = {tool.name for tool in listed.tools}
    assert len(names) == 72
    assert "delete_gateway" not in names
    assert "delete_asset" in names
    # A local read tool answers through the proxy; a read that needs AWS was forwarded
    # and failed upstream (no credentials), which is the server's answer, not callgate's.
    assert not converted.is_error, _text(converted)
    assert "1970" in _text(converted)
    assert described.is_error
    assert "Unable to locate credentials" in _text(described)
    assert deletion.is_error
    assert _text(deletion).startswith("[callgate]")
    assert hidden.is_error
    assert _text(hidden).startswith("[callgate]")

    decisions = read_records(audit)
    by_tool = {d["tool"]: (d["decision"], d["rule"]) for d in decisions}
    assert by_tool["convert_unix_timestamp"][0] == "allow"
    assert by_tool["describe_asset"][0] == "allow"
    assert by_tool["delete_asset"] == ("approval_required", "every call needs approval")
    assert by_tool["delete_gateway"] == ("hidden", "hide")
    calls = [
        message["params"]["name"]
        for message in map(json.loads, received.read_text().splitlines())
        if message.get("method") == "tools/call"
    ]
    assert calls == ["convert_unix_timestamp", "describe_asset"]
