"""The stdio transport as a plain relay: real SDK client -> relay process -> real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from callgate.proxy.hooks import Forward, Message, PassThrough, Peer, Reply
from callgate.transports.stdio import StdioProxy
from tests.fixtures.servers.commands import (
    FASTMCP_SERVER,
    RELAY,
    ROOT,
    SDK_SERVER,
    recorded,
    stdio_params,
)
from tests.fixtures.servers.raw_session import INITIALIZE

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _tools(listing: Any) -> list[dict[str, Any]]:
    return [tool.model_dump(mode="json", by_alias=True) for tool in listing.tools]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("server", [SDK_SERVER, FASTMCP_SERVER], ids=["sdk", "fastmcp"])
async def test_relay_shows_the_same_tools_and_results_as_direct(
    mode: str, server: list[str]
) -> None:
    with anyio.fail_after(30):
        async with Client(stdio_params(server), mode=mode) as direct:
            direct_tools = _tools(await direct.list_tools())
            direct_sum = await direct.call_tool("add", {"a": 2, "b": 3})
        async with Client(stdio_params([*RELAY, "--", *server]), mode=mode) as relayed:
            relayed_tools = _tools(await relayed.list_tools())
            relayed_sum = await relayed.call_tool("add", {"a": 2, "b": 3})
    assert relayed_tools == direct_tools
    assert relayed_sum.model_dump() == direct_sum.model_dump()
    assert relayed_sum.content == direct_sum.content
    assert relayed_sum.structured_content == {"result": 5}


def _run_raw(lines: list[bytes], *extra: str, until: set[Any]) -> tuple[list[Any], int]:
    """Feed raw lines to a relay in front of the SDK server.

    Our stdin stays open until a response for every id in `until` has arrived (closing it
    earlier would make the server exit before answering); returns output and status.
    """
    output: list[Any] = []
    with subprocess.Popen(
        [*RELAY, *extra, "--", *SDK_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(b"".join(line + b"\n" for line in lines))
        process.stdin.flush()
        waiting = set(until)
        for raw in process.stdout:
            message = json.loads(raw)
            output.append(message)
            waiting.discard(message.get("id"))
            if not waiting and not process.stdin.closed:
                process.stdin.close()
        status = process.wait(timeout=30)
    return output, status


def test_malformed_and_oversize_lines_get_errors_and_the_session_goes_on() -> None:
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
    call["params"] = {"name": "echo", "arguments": {"text": "ok"}}
    output, status = _run_raw(
        [
            json.dumps(INITIALIZE).encode(),
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            b"{not json",
            b'{"jsonrpc":"2.0","id":7,"id":8,"method":"tools/list"}',
            b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'
            + b"x" * 3000
            + b'"}}}',
            json.dumps(call).encode(),
        ],
        "--max-bytes",
        "2000",
        until={2},
    )
    assert status == 0
    errors = [message["error"]["code"] for message in output if "error" in message]
    assert errors == [-32700, -32700, -32600]
    answers = {message["id"]: message for message in output if "result" in message}
    assert answers[2]["result"]["content"][0]["text"] == "ok"
    assert 9 not in answers
    (too_big,) = [m for m in output if m.get("id") == 9]
    assert too_big["error"]["code"] == -32600


def test_an_oversize_server_answer_becomes_an_error_for_its_request() -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "w" * 3000}},
    }
    small = {**call, "id": 5, "params": {"name": "echo", "arguments": {"text": "fits"}}}
    output, status = _run_raw(
        [
            json.dumps(INITIALIZE).encode(),
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            json.dumps(call).encode(),
            json.dumps(small).encode(),
        ],
        "--max-upstream-bytes",
        "2000",
        until={4, 5},
    )
    answers = {message["id"]: message for message in output}
    assert "larger than 2000 bytes" in answers[4]["error"]["message"]
    assert answers[5]["result"]["content"][0]["text"] == "fits"
    assert status == 0


def test_dead_upstream_fails_in_flight_calls_and_its_status_is_ours() -> None:
    block = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "block"}}
    crash = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "crash", "arguments": {"code": 7}},
    }
    output, status = _run_raw(
        [
            json.dumps(INITIALIZE).encode(),
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            json.dumps(block).encode(),
            json.dumps(crash).encode(),
        ],
        until={2, 3},
    )
    assert status == 7
    failed = {message["id"] for message in output if "error" in message}
    # Every request still waiting fails; on a loaded machine the server may die (the
    # crash runs concurrently) before it has answered initialize, which then fails too.
    assert {2, 3} <= failed <= {2, 3, INITIALIZE["id"]}


class _Exploding(PassThrough):
    """An interceptor with a bug: judging any tools/call raises."""

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        if message.method == "tools/call":
            raise RuntimeError("bug in the judge")
        return Forward(message)


async def test_a_crashing_interceptor_refuses_instead_of_forwarding(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "upstream.log"
    client_in, proxy_in = os.pipe()
    proxy_out, client_out = os.pipe()
    with (
        os.fdopen(client_in, "rb") as stdin,
        os.fdopen(proxy_in, "wb", buffering=0) as to_proxy,
        os.fdopen(proxy_out, "rb") as from_proxy,
        os.fdopen(client_out, "wb") as stdout,
    ):
        proxy = StdioProxy(_Exploding(), recorded(log, SDK_SERVER))
        call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo"}}
        to_proxy.write(json.dumps(INITIALIZE).encode() + b"\n" + json.dumps(call).encode() + b"\n")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(proxy.run, stdin, stdout)
                answers: dict[Any, Any] = {}
                while 5 not in answers or "init" not in answers:
                    line = await anyio.to_thread.run_sync(from_proxy.readline)
                    message = json.loads(line)
                    answers[message["id"]] = message
                to_proxy.close()
    assert answers[5]["error"]["code"] == -32603
    assert "not forwarded" in answers[5]["error"]["message"]
    assert "bug in the judge" in capfd.readouterr().err
    assert [json.loads(line)["method"] for line in log.read_text().splitlines()] == ["initialize"]


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_callgate_reads_and_writes_regular_files_and_dev_null(tmp_path: Path, loop: str) -> None:
    # Event loops watch pipes and sockets only (uvloop aborts the process on a regular file
    # or /dev/null), so stdin and stdout that are files go through threads.
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "1"\ndefault: allow\n')
    requests = tmp_path / "requests.jsonl"
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    requests.write_bytes(
        b"".join(
            json.dumps(message).encode() + b"\n"
            for message in (INITIALIZE, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        + json.dumps(listing).encode()
        + b"\n"
    )
    command = [
        sys.executable, "-m", "callgate", "run", "-c", str(policy), "--state", "memory://",
        "--no-audit", "--", *SDK_SERVER,
    ]  # fmt: skip
    environment = {**os.environ, "CALLGATE_EVENT_LOOP": loop}
    answers = tmp_path / "answers.jsonl"
    with requests.open("rb") as stdin, answers.open("wb") as stdout:
        done = subprocess.run(
            command, check=False, stdin=stdin, stdout=stdout, cwd=ROOT, env=environment
        )
    assert done.returncode == 0
    ids = [json.loads(line)["id"] for line in answers.read_bytes().splitlines()]
    assert ids == [INITIALIZE["id"], 2]
    quiet = subprocess.run(
        command,
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=ROOT,
        env=environment,
    )
    assert quiet.returncode == 0
    assert quiet.stdout == b""
