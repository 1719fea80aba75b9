"""A JSON-RPC batch gets one answer: one array with every request's answer, on every mode.

Real processes: raw JSON-RPC (what the SDK clients cannot send) -> `callgate run` -> the
SDK fixture servers, over stdio (`-- CMD`), stdio to HTTP (`--upstream URL`) and the HTTP
listener (`--listen`, in front of a URL and of a command). On protocol 2025-03-26 each
element is judged and the allowed ones reach the server one by one; on every other
version the batch is refused whole. Either way every request id is answered exactly once,
in one array, and a notification is answered by nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.fixtures.peers import callgate_listener
from tests.fixtures.servers.commands import CALLGATE, SDK_SERVER, callgate_run, recorded
from tests.fixtures.servers.raw_session import RawSession, recorded_messages

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
default: allow
tools:
  delete_file:
    rules:
      - name: no-deletes
        action: deny
        on_deny: "files are never deleted"
"""

BATCHING = "2025-03-26"
REFUSING = ["2024-11-05", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
TIMEOUT = "5"
"""--call-timeout of the timeout tests: `block` never answers, `echo` answers at once."""

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def call(request_id: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


BATCH = [
    call(1, "delete_file", {"path": "/etc/passwd"}),
    call(2, "echo", {"text": "hi"}),
    {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
    {"jsonrpc": "2.0", "id": "p", "method": "ping"},
]
BATCH_IDS = [1, 2, "p"]


def initialize(version: str) -> dict[str, Any]:
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": params}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def by_id(answers: list[Any]) -> dict[Any, dict[str, Any]]:
    """The answers by id, each id exactly once."""
    ids = [answer["id"] for answer in answers]
    assert sorted(map(str, ids)) == sorted(map(str, set(ids))), f"an id answered twice: {ids}"
    return {answer["id"]: answer for answer in answers}


def check_answered(answers: list[Any]) -> None:
    """The answers of a batch judged element by element (2025-03-26)."""
    found = by_id(answers)
    assert sorted(found, key=str) == sorted(BATCH_IDS, key=str)
    denied = found[1]["result"]
    assert denied["isError"] is True
    assert denied["_meta"]["callgate/decision"]["rule"] == "no-deletes"
    assert found[2]["result"]["content"][0]["text"] == "hi"
    assert found["p"]["result"] == {}


def check_refused(answers: list[Any], version: str | None) -> None:
    """The answers of a batch refused whole: -32600 for each request."""
    found = by_id(answers)
    assert sorted(found, key=str) == sorted(BATCH_IDS, key=str)
    for answer in found.values():
        assert answer["error"]["code"] == -32600
        assert "batches" in answer["error"]["message"]
        if version is not None:
            assert version in answer["error"]["message"]


def check_once(received: list[Any], batch: list[Any]) -> None:
    """Nothing but the one array answered the batch's ids."""
    arrays = [message for message in received if isinstance(message, list)]
    assert arrays == [batch]
    stray = [m for m in received if isinstance(m, dict) and m.get("id") in BATCH_IDS]
    assert stray == []


# -- stdio: `callgate run -- CMD` -------------------------------------------------------


async def stdio_batch(
    policy: Path, tmp_path: Path, version: str, batch: list[Any], *extra: str
) -> tuple[list[Any], RawSession, list[dict[str, Any]]]:
    """Send `batch` on a session of `version`; its one array, the session, what reached
    the server."""
    log = tmp_path / "upstream.log"
    command = callgate_run(policy, tmp_path / "audit.jsonl", recorded(log, SDK_SERVER), *extra)
    session = await RawSession.start(command, dict(os.environ))
    with anyio.fail_after(60):
        if version != MODERN:  # 2026-07-28 has no handshake
            assert (await session.initialize(version))["result"]["protocolVersion"] == version
        await session.send_line(json.dumps(batch).encode())
        answers = await session.receive_batch()
        # Drains what is left; on 2026-07-28 the server may still be starting, so its exit
        # status (SIGTERM after the grace period on a slow machine) is not the point here.
        await session.finish()
    return answers, session, recorded_messages(log)


async def test_a_2025_03_26_batch_on_stdio_is_answered_in_one_array(
    policy: Path, tmp_path: Path
) -> None:
    answers, session, reached = await stdio_batch(policy, tmp_path, BATCHING, BATCH)
    check_answered(answers)
    check_once(session.received, answers)
    # The server got each allowed element on its own, never a batch, never the denied one.
    assert all(isinstance(message, dict) for message in reached)
    methods = [message.get("method") for message in reached]
    assert methods == [
        "initialize",
        "notifications/initialized",
        "tools/call",
        "notifications/roots/list_changed",
        "ping",
    ]
    assert reached[2]["params"]["name"] == "echo"


@pytest.mark.parametrize("version", [*REFUSING, MODERN])
async def test_a_batch_on_stdio_is_refused_whole_on_other_versions(
    policy: Path, tmp_path: Path, version: str
) -> None:
    answers, session, reached = await stdio_batch(policy, tmp_path, version, BATCH)
    check_refused(answers, None if version == MODERN else version)
    check_once(session.received, answers)
    methods = [message.get("method") for message in reached]
    assert methods == ([] if version == MODERN else ["initialize", "notifications/initialized"])


async def test_a_batch_element_the_server_never_answers_times_out_in_the_array(
    policy: Path, tmp_path: Path
) -> None:
    batch = [call(1, "echo", {"text": "hi"}), call(2, "block", {})]
    answers, session, reached = await stdio_batch(
        policy, tmp_path, BATCHING, batch, "--call-timeout", TIMEOUT
    )
    found = by_id(answers)
    assert found[1]["result"]["content"][0]["text"] == "hi"
    assert found[2]["error"]["code"] == -32001
    assert "no answer from the server within 5 s" in found[2]["error"]["message"]
    assert session.received.count(answers) == 1
    # The server is told to stop the call nobody waits for any more.
    cancelled = [m for m in reached if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancelled] == [2]


async def test_a_batch_element_the_client_cancels_is_left_out_of_the_array(
    policy: Path, tmp_path: Path
) -> None:
    log = tmp_path / "upstream.log"
    command = callgate_run(policy, tmp_path / "audit.jsonl", recorded(log, SDK_SERVER))
    session = await RawSession.start(command, dict(os.environ))
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 2, "reason": "no longer needed"},
    }
    with anyio.fail_after(60):  # --call-timeout is 600 s: only the cancellation ends the wait
        await session.initialize(BATCHING)
        batch = [call(1, "echo", {"text": "hi"}), call(2, "block", {})]
        await session.send_line(json.dumps(batch).encode())
        while not any(m.get("id") == 2 for m in recorded_messages(log)):
            await anyio.sleep(0.02)  # until the server has the call to cancel
        await session.send(cancel)
        answers = await session.receive_batch()
        await session.finish()
    assert [answer["id"] for answer in answers] == [1]
    assert answers[0]["result"]["content"][0]["text"] == "hi"
    reached = [m.get("method") for m in recorded_messages(log)]
    assert reached.count("notifications/cancelled") == 1


async def test_a_batch_of_notifications_gets_no_answer(policy: Path, tmp_path: Path) -> None:
    log = tmp_path / "upstream.log"
    command = callgate_run(policy, tmp_path / "audit.jsonl", recorded(log, SDK_SERVER))
    session = await RawSession.start(command, dict(os.environ))
    notes = [BATCH[2], {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]
    with anyio.fail_after(60):
        await session.initialize(BATCHING)
        await session.send_line(json.dumps(notes).encode())
        pong = await session.call("after", "ping", {})
        assert await session.finish() == 0
    assert pong["result"] == {}
    assert [m.get("id") for m in session.received] == ["init", "after"]
    methods = [m.get("method") for m in recorded_messages(log)]
    assert methods.count("notifications/roots/list_changed") == 2


# -- stdio to HTTP: `callgate run --upstream URL` ---------------------------------------


async def bridge_batch(
    policy: Path, tmp_path: Path, url: str, version: str, batch: list[Any], *extra: str
) -> tuple[list[Any], RawSession, list[str]]:
    """Send `batch` through the stdio-to-HTTP bridge; its array, the session, and the tools
    the upstream ran."""
    command = [
        *CALLGATE, "run", "-c", str(policy), "--state", "memory://",
        "--audit", str(tmp_path / "audit.jsonl"), *extra, "--upstream", url,
    ]  # fmt: skip
    session = await RawSession.start(command, dict(os.environ))
    with anyio.fail_after(60):
        await session.initialize(version)
        await session.send_line(json.dumps(batch).encode())
        answers = await session.receive_batch()
        ran = await session.call("ran", "tools/call", {"name": "executed_tools", "arguments": {}})
        assert await session.finish() == 0
    return answers, session, json.loads(ran["result"]["content"][0]["text"])


async def test_a_2025_03_26_batch_through_the_http_bridge_is_answered_in_one_array(
    policy: Path, tmp_path: Path, upstream_url: str
) -> None:
    answers, session, ran = await bridge_batch(policy, tmp_path, upstream_url, BATCHING, BATCH)
    check_answered(answers)
    check_once(session.received, answers)
    assert ran == ["echo"]


async def test_a_batch_through_the_http_bridge_is_refused_whole_on_2025_11_25(
    policy: Path, tmp_path: Path, upstream_url: str
) -> None:
    answers, session, ran = await bridge_batch(policy, tmp_path, upstream_url, "2025-11-25", BATCH)
    check_refused(answers, "2025-11-25")
    check_once(session.received, answers)
    assert ran == []


async def test_a_batch_element_times_out_through_the_http_bridge(
    policy: Path, tmp_path: Path, upstream_url: str
) -> None:
    batch = [call(1, "echo", {"text": "hi"}), call(2, "block", {})]
    answers, session, ran = await bridge_batch(
        policy, tmp_path, upstream_url, BATCHING, batch, "--call-timeout", TIMEOUT
    )
    found = by_id(answers)
    assert found[1]["result"]["content"][0]["text"] == "hi"
    assert found[2]["error"]["code"] == -32001
    assert session.received.count(answers) == 1
    assert ran == ["echo"]


# -- the HTTP listener: `callgate run --listen` -----------------------------------------


def messages_of(response: httpx2.Response) -> list[Any]:
    """The JSON-RPC messages of a response: its JSON body, or its SSE events' data."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [
            json.loads(line.removeprefix("data:").strip())
            for line in response.text.splitlines()
            if line.startswith("data:") and line.removeprefix("data:").strip()
        ]
    return [response.json()] if response.content else []


async def listener_batch(
    url: str, version: str, batch: list[Any]
) -> tuple[httpx2.Response, list[Any], list[str]]:
    """Open a session of `version`, POST `batch`; the response, its messages, the tools the
    upstream ran."""
    async with httpx2.AsyncClient(timeout=60) as http:
        opened = await http.post(url, json=initialize(version), headers=ACCEPT)
        assert opened.status_code == 200, opened.text
        headers = {**ACCEPT, "mcp-session-id": opened.headers["mcp-session-id"]}
        if version != BATCHING:  # 2025-06-18 and later name their version on every request
            headers["mcp-protocol-version"] = version
        await http.post(url, json=INITIALIZED, headers=headers)
        response = await http.post(url, json=batch, headers=headers)
        ran = await http.post(url, json=call("ran", "executed_tools", {}), headers=headers)
    [executed] = messages_of(ran)
    return response, messages_of(response), json.loads(executed["result"]["content"][0]["text"])


@contextmanager
def listening(
    policy: Path, tmp_path: Path, upstream: str | list[str], *extra: str
) -> Iterator[str]:
    """`callgate run --listen` in front of `upstream`; yields its /mcp URL."""
    files = ("--state", "memory://", "--audit", str(tmp_path / "audit.jsonl"), *extra)
    with callgate_listener(policy, upstream, tmp_path / "callgate.log", *files) as url:
        yield url


async def test_a_2025_03_26_batch_through_the_listener_is_answered_in_one_array(
    policy: Path, tmp_path: Path, upstream: str | list[str]
) -> None:
    with listening(policy, tmp_path, upstream) as url:
        with anyio.fail_after(60):
            response, received, ran = await listener_batch(url, BATCHING, BATCH)
    assert response.status_code == 200
    [answers] = [message for message in received if isinstance(message, list)]
    check_answered(answers)
    check_once(received, answers)
    assert ran == ["echo"]


async def test_a_batch_through_the_listener_is_refused_whole_on_2025_11_25(
    policy: Path, tmp_path: Path, upstream: str | list[str]
) -> None:
    with listening(policy, tmp_path, upstream) as url:
        with anyio.fail_after(60):
            response, received, ran = await listener_batch(url, "2025-11-25", BATCH)
    assert response.status_code == 400
    [answers] = received
    check_refused(answers, "2025-11-25")
    assert ran == []


async def test_a_batch_element_times_out_through_the_listener(
    policy: Path, tmp_path: Path, upstream: str | list[str]
) -> None:
    batch = [call(1, "echo", {"text": "hi"}), call(2, "block", {})]
    with listening(policy, tmp_path, upstream, "--call-timeout", TIMEOUT) as url:
        with anyio.fail_after(60):
            response, received, ran = await listener_batch(url, BATCHING, batch)
    assert response.status_code == 200
    [answers] = [message for message in received if isinstance(message, list)]
    found = by_id(answers)
    assert found[1]["result"]["content"][0]["text"] == "hi"
    assert found[2]["error"]["code"] == -32001
    assert ran == ["echo"]
