"""SDK client -> the HTTP listener -> a real MCP server over HTTP (`--upstream`) or stdio (`--`).

The listener runs in the test's event loop on a free loopback port; the upstream is the
fixture server in its own process. Both MCP generations: the SDK's default mode speaks
2026-07-28, `mode="legacy"` the 2025-11-25 handshake.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult

from callgate.policy.decision import Agent
from callgate.transports.http_listener import serve_http
from tests.transports.conftest import (
    COMMAND,
    FASTMCP_HTTP_SERVER,
    KINDS,
    start_http_server,
    stop,
)
from tests.transports.guard import Guard
from tests.transports.helpers import (
    Asked,
    check_answers_never_judged,
    check_asked_before_forwarding,
    check_refused_call_never_arrives,
    closed_port_url,
    text_of,
)

pytestmark = pytest.mark.anyio

MODES = ["auto", "legacy"]
OPERATOR_HEADERS = {"X-Upstream-Token": "operator-secret"}


@asynccontextmanager
async def listening(
    guard: Guard, upstream: str | Sequence[str], **options: Any
) -> AsyncIterator[str]:
    """Run `serve_http` on a free port; yields the listener's /mcp URL."""
    ports: list[int] = []
    bound = anyio.Event()

    def ready(port: int) -> None:
        ports.append(port)
        bound.set()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(
            partial(
                serve_http,
                guard,
                "127.0.0.1",
                0,
                upstream,
                headers=OPERATOR_HEADERS,
                ready=ready,
                **options,
            )
        )
        with anyio.fail_after(10):
            await bound.wait()
        yield f"http://127.0.0.1:{ports[0]}/mcp"
        task_group.cancel_scope.cancel()


def client_for(
    url: str, mode: str, http: httpx2.AsyncClient | None = None, **kwargs: Any
) -> Client:
    return Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs)


@pytest.mark.parametrize("mode", MODES)
async def test_calls_pass_through_and_every_message_is_judged(
    upstream: str | list[str], mode: str
) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, client_for(url, mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool("echo", {"text": "hello"})
    assert {"echo", "count", "ask"} <= {tool.name for tool in tools.tools}
    assert text_of(result) == "hello"
    calls = [r for r in guard.records if r["body"].get("method") == "tools/call"]
    assert [c["direction"] for c in calls] == ["client"]
    answers = [
        r
        for r in guard.records
        if r["direction"] == "server" and r["body"].get("id") == calls[0]["body"]["id"]
    ]
    assert answers[-1]["body"]["result"]["content"][0]["text"] == "hello"
    assert calls[0]["version"] == ("2026-07-28" if mode == "auto" else "2025-11-25")
    if mode == "auto":
        assert calls[0]["session"] == "anonymous/default"
    else:
        assert not calls[0]["session"].startswith("initialize-")


@pytest.mark.parametrize("mode", MODES)
async def test_progress_streams_to_the_client_before_the_result(
    upstream: str | list[str], mode: str
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, client_for(url, mode) as client:
            result = await client.call_tool("count", {"steps": 3}, progress_callback=on_progress)
    assert text_of(result) == "counted 3"
    assert seen == [1, 2, 3]
    progress = [r for r in guard.records if r["body"].get("method") == "notifications/progress"]
    assert len(progress) == 3
    assert all(r["direction"] == "server" for r in progress)


async def test_elicitation_passes_through_on_a_legacy_session(upstream: str | list[str]) -> None:
    async def elicit(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"name": "grace"})

    guard = Guard()
    with anyio.fail_after(60):
        async with (
            listening(guard, upstream) as url,
            client_for(url, "legacy", elicitation_callback=elicit) as client,
        ):
            result = await client.call_tool("ask", {})
    assert text_of(result) == "hello grace"
    asked = [r for r in guard.records if r["body"].get("method") == "elicitation/create"]
    assert [r["direction"] for r in asked] == ["server"]
    answered = [
        r
        for r in guard.records
        if r["direction"] == "client"
        and "method" not in r["body"]
        and r["body"].get("id") == asked[0]["body"]["id"]
    ]
    assert answered[0]["body"]["result"]["content"] == {"name": "grace"}


@pytest.mark.parametrize("mode", MODES)
async def test_a_reply_short_circuits_the_call(upstream: str | list[str], mode: str) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, client_for(url, mode) as client:
            await check_refused_call_never_arrives(client)


@pytest.mark.parametrize("mode", MODES)
async def test_client_credentials_never_reach_the_upstream(upstream_url: str, mode: str) -> None:
    guard = Guard()
    http = httpx2.AsyncClient(
        headers={"Authorization": "Bearer agent-token", "Cookie": "sid=agent-cookie"}, timeout=30
    )
    with anyio.fail_after(60):
        async with (
            http,
            listening(guard, upstream_url) as url,
            client_for(url, mode, http) as client,
        ):
            result = await client.call_tool("headers", {})
    seen = json.loads(text_of(result))
    assert "authorization" not in seen
    assert "cookie" not in seen
    assert seen["x-upstream-token"] == "operator-secret"
    assert seen["host"] != urlsplit_host(url)


def urlsplit_host(url: str) -> str:
    return url.split("/")[2]


def initialize_body(request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }


MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


async def test_host_and_origin_outside_loopback_are_refused(upstream: str | list[str]) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient() as http:
            bad_host = await http.post(
                url, json=initialize_body(), headers={**MCP_HEADERS, "host": "evil.example:80"}
            )
            bad_origin = await http.post(
                url,
                json=initialize_body(),
                headers={**MCP_HEADERS, "origin": "http://evil.example"},
            )
            good_origin = await http.post(
                url,
                json=initialize_body(),
                headers={**MCP_HEADERS, "origin": "http://localhost:3000"},
            )
    assert bad_host.status_code == 421
    assert bad_origin.status_code == 403
    assert good_origin.status_code == 200
    assert [r["body"]["method"] for r in guard.records if r["direction"] == "client"] == [
        "initialize"
    ]


async def test_a_body_that_does_not_parse_gets_a_jsonrpc_error(upstream: str | list[str]) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient() as http:
            broken = await http.post(
                url, content=b'{"jsonrpc": "2.0", "id": 1, "id": 2}', headers=MCP_HEADERS
            )
            huge = await http.post(url, content=b"[" + b" " * 5000 + b"]", headers=MCP_HEADERS)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == -32700
    assert "duplicate key" in broken.json()["error"]["message"]
    assert guard.records == []
    assert huge.status_code in (400, 413)


async def test_a_body_over_the_limit_is_refused_with_413(upstream: str | list[str]) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with (
            listening(guard, upstream, max_message_bytes=1000) as url,
            httpx2.AsyncClient() as http,
        ):
            response = await http.post(url, json={"padding": "x" * 2000}, headers=MCP_HEADERS)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600
    assert guard.records == []


def modern_call(name: str, arguments: dict[str, Any], request_id: int = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }


MODERN_HEADERS = {**MCP_HEADERS, "mcp-protocol-version": "2026-07-28"}


async def test_routing_headers_that_disagree_with_the_body_are_refused(
    upstream: str | list[str],
) -> None:
    guard = Guard()
    call = modern_call("echo", {"text": "sneaky"})
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient() as http:
            wrong_method = await http.post(
                url,
                json=call,
                headers={**MODERN_HEADERS, "mcp-method": "tools/list", "mcp-name": "echo"},
            )
            wrong_name = await http.post(
                url,
                json=call,
                headers={**MODERN_HEADERS, "mcp-method": "tools/call", "mcp-name": "other"},
            )
            right = await http.post(
                url,
                json=modern_call("executed_tools", {}),
                headers={
                    **MODERN_HEADERS,
                    "mcp-method": "tools/call",
                    "mcp-name": "executed_tools",
                },
            )
    for refused in (wrong_method, wrong_name):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == -32020
        assert refused.json()["id"] == 7
    assert right.status_code == 200
    executed = json.loads(_result_text(right))
    assert "echo" not in executed
    assert [r["body"]["params"]["name"] for r in guard.records if r["direction"] == "client"] == [
        "executed_tools"
    ]


def _result_text(response: httpx2.Response) -> str:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        body = json.loads(data[-1])
    else:
        body = response.json()
    return str(body["result"]["content"][0]["text"])


async def test_get_stream_and_delete_end_a_legacy_session(upstream: str | list[str]) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient(timeout=30) as http:
            opened = await http.post(url, json=initialize_body(), headers=MCP_HEADERS)
            session = opened.headers["mcp-session-id"]
            headers = {
                **MCP_HEADERS,
                "mcp-session-id": session,
                "mcp-protocol-version": "2025-11-25",
            }
            initialized = await http.post(
                url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
            )
            async with http.stream("GET", url, headers=headers) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
            ended = await http.delete(url, headers=headers)
            after = await http.post(
                url, json=modern_call("echo", {"text": "x"}) | {"params": {}}, headers=headers
            )
    assert opened.status_code == 200
    assert initialized.status_code == 202
    assert ended.status_code in (200, 204)
    assert after.status_code == 404
    assert any(peer.session == session for peer in guard.lost)


async def test_stateless_clients_sharing_a_child_get_only_their_own_answers() -> None:
    guard = Guard()
    texts = [f"client-{n}" for n in range(4)]
    answers: dict[str, list[str]] = {}

    async def converse(url: str, text: str) -> None:
        async with client_for(url, "auto") as client:
            replies = []
            for turn in range(3):
                result = await client.call_tool("echo", {"text": f"{text}#{turn}"})
                replies.append(text_of(result))
            answers[text] = replies

    with anyio.fail_after(60):
        async with listening(guard, COMMAND) as url, anyio.create_task_group() as task_group:
            for text in texts:
                task_group.start_soon(converse, url, text)
    assert answers == {text: [f"{text}#{turn}" for turn in range(3)] for text in texts}


@pytest.mark.parametrize(
    "dead",
    [closed_port_url(), [sys.executable, "-c", "import sys; sys.stdin.readline()"]],
    ids=KINDS,
)
async def test_a_dead_upstream_answers_with_an_error_and_settles_the_peer(
    dead: str | list[str],
) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, dead) as url, httpx2.AsyncClient(timeout=30) as http:
            response = await http.post(url, json=initialize_body(), headers=MCP_HEADERS)
    body = _last_message(response)
    assert body["id"] == 1
    assert "upstream" in body["error"]["message"]
    assert guard.lost
    settled = [r for r in guard.records if r["direction"] == "server"]
    assert settled and "error" in settled[0]["body"]


def _last_message(response: httpx2.Response) -> dict[str, Any]:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return dict(json.loads(data[-1]))
    return dict(response.json())


async def test_a_broken_stream_resumes_through_the_listener_with_last_event_id(
    upstream_url: str,
) -> None:
    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream_url) as url, client_for(url, "legacy") as client:
            result = await client.call_tool("interrupted", {}, progress_callback=on_progress)
    assert text_of(result) == "resumed"
    assert seen == ["before the break", "after the break"]
    resumed = [
        r for r in guard.records if r["body"].get("id") is not None and "result" in r["body"]
    ]
    assert any(
        r["body"]["result"].get("content", [{}])[0].get("text") == "resumed" for r in resumed
    )


def agent_from_header(headers: Any) -> Agent | None:
    name = headers.get("x-agent")
    return Agent(name) if name else None


async def test_a_session_answers_only_the_agent_that_opened_it(upstream: str | list[str]) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with (
            listening(guard, upstream, authenticate=agent_from_header) as url,
            httpx2.AsyncClient(timeout=30) as http,
        ):
            anonymous = await http.post(url, json=initialize_body(), headers=MCP_HEADERS)
            opened = await http.post(
                url, json=initialize_body(), headers={**MCP_HEADERS, "x-agent": "alice"}
            )
            session = opened.headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            headers = {
                **MCP_HEADERS,
                "mcp-session-id": session,
                "mcp-protocol-version": "2025-11-25",
            }
            stolen = await http.post(url, json=ping, headers={**headers, "x-agent": "mallory"})
            own = await http.post(url, json=ping, headers={**headers, "x-agent": "alice"})
    assert anonymous.status_code == 401
    assert stolen.status_code == 404
    assert own.status_code == 200
    assert _last_message(own) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert {r["agent"] for r in guard.records} == {"alice"}


@pytest.mark.parametrize("mode", MODES)
async def test_an_upstream_that_dies_mid_call_answers_with_an_error(
    upstream: str | list[str], mode: str
) -> None:
    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, client_for(url, mode) as client:
            with pytest.raises(MCPError) as failure:
                await client.call_tool("crash", {})
    assert "upstream" in failure.value.error.message
    call = next(r for r in guard.records if r["body"].get("method") == "tools/call")
    settled = [
        r
        for r in guard.records
        if r["direction"] == "server" and r["body"].get("id") == call["body"]["id"]
    ]
    assert settled and "error" in settled[0]["body"]
    assert guard.lost


@pytest.fixture
def fastmcp_url() -> Iterator[str]:
    process, url = start_http_server(str(FASTMCP_HTTP_SERVER))
    try:
        yield url
    finally:
        stop(process)


@pytest.mark.parametrize("mode", MODES)
async def test_a_fastmcp_upstream_works_through_the_listener(fastmcp_url: str, mode: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    guard = Guard()
    with anyio.fail_after(60):
        async with listening(guard, fastmcp_url) as url, client_for(url, mode) as client:
            echoed = await client.call_tool("echo", {"text": "via fastmcp"})
            counted = await client.call_tool("count", {"steps": 2}, progress_callback=on_progress)
    assert text_of(echoed) == "via fastmcp"
    assert text_of(counted) == "counted 2"
    assert seen == [1, 2]


async def test_each_batch_element_is_judged_and_local_answers_come_back_as_a_batch(
    upstream: str | list[str],
) -> None:
    guard = Guard()
    refused = {
        "jsonrpc": "2.0",
        "id": "a",
        "method": "tools/call",
        "params": {"name": "delete_everything", "arguments": {}},
    }
    malformed = {"jsonrpc": "2.0", "id": "b", "method": 42}
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient() as http:
            response = await http.post(url, json=[refused, malformed], headers=MCP_HEADERS)
    answers = {answer["id"]: answer for answer in response.json()}
    assert response.status_code == 200
    assert answers["a"]["result"]["isError"] is True
    assert answers["b"]["error"]["code"] == -32600
    assert [r["body"]["id"] for r in guard.records] == ["a"]


@pytest.mark.parametrize("accept", [True, False])
async def test_callgate_can_ask_a_legacy_http_client_before_forwarding(
    upstream: str | list[str], accept: bool
) -> None:
    asked = Asked(accept)
    guard = Guard()
    with anyio.fail_after(60):
        async with (
            listening(guard, upstream) as url,
            client_for(url, "legacy", elicitation_callback=asked) as client,
        ):
            await check_asked_before_forwarding(client, asked)
    check_answers_never_judged(guard.records)


def modern_headers(method: str, name: str | None = None, **extra: str) -> dict[str, str]:
    headers = {**MODERN_HEADERS, "mcp-method": method, **extra}
    if name is not None:
        headers["mcp-name"] = name
    return headers


async def test_param_headers_must_match_the_arguments(upstream: str | list[str]) -> None:
    guard = Guard()
    envelope = modern_call("x", {})["params"]["_meta"]
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": envelope}}
    call = modern_call("deploy", {"region": "eu-west"})
    with anyio.fail_after(60):
        async with listening(guard, upstream) as url, httpx2.AsyncClient(timeout=30) as http:
            listed = await http.post(url, json=listing, headers=modern_headers("tools/list"))
            wrong = await http.post(
                url,
                json=call,
                headers=modern_headers("tools/call", "deploy", **{"mcp-param-region": "us"}),
            )
            right = await http.post(
                url,
                json=call,
                headers=modern_headers("tools/call", "deploy", **{"mcp-param-region": "eu-west"}),
            )
    assert listed.status_code == 200
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == -32020
    assert right.status_code == 200
    assert _result_text(right) == "deployed to eu-west"


async def test_a_stdio_child_stays_stateless_whatever_clients_send() -> None:
    guard = Guard()
    bare = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    initialize = initialize_body(4)
    initialize["params"]["_meta"] = modern_call("x", {})["params"]["_meta"]
    with anyio.fail_after(60):
        async with listening(guard, COMMAND) as url, httpx2.AsyncClient(timeout=30) as http:
            no_envelope = await http.post(url, json=bare, headers=modern_headers("tools/list"))
            handshake = await http.post(url, json=initialize, headers=modern_headers("initialize"))
            unknown = await http.post(
                url, json=bare, headers={**MCP_HEADERS, "mcp-protocol-version": "2099-01-01"}
            )
            after = await http.post(
                url,
                json=modern_call("echo", {"text": "still stateless"}),
                headers=modern_headers("tools/call", "echo"),
            )
    assert (no_envelope.status_code, no_envelope.json()["error"]["code"]) == (400, -32602)
    assert (handshake.status_code, handshake.json()["error"]["code"]) == (404, -32601)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, -32022)
    assert unknown.json()["error"]["data"] == {
        "supported": ["2026-07-28"],
        "requested": "2099-01-01",
    }
    assert after.status_code == 200
    assert _result_text(after) == "still stateless"
