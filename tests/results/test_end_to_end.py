"""The result guard end to end: the official SDK client -> a real `callgate run` -> a real
server whose results leak secrets and address the model.

Over stdio and over `--listen` (Streamable HTTP, where `streamed_config` answers on an SSE
stream), with both protocol versions (`legacy` forces 2025-11-25). The client sees the
markers and the wrapper, the audit log says what was done.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents

from callgate.audit import read_records
from callgate.results import UNTRUSTED_END, UNTRUSTED_START
from tests.fixtures.servers.commands import ROOT, callgate_run, stdio_params
from tests.results.leaky_server import JWT, PEM_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LEAKY_SERVER = [sys.executable, "-m", "tests.results.leaky_server"]
POLICY = """\
version: "1"
results: {redact_secrets: true}
tools:
  fetch_page:
    results: {flag_injection: true, on_injection: wrap}
  read_resource_file:
    results: {flag_injection: true, on_injection: wrap}
  plain:
    results: {redact_secrets: false}
"""
SECRET_TEXTS = (PEM_KEY, JWT, "hunter2pass", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
REDACTED_URL = "postgres://app:[REDACTED:url_password]@db.internal:5432/orders"


def _text(result: CallToolResult, index: int = 0) -> str:
    item = result.content[index]
    assert isinstance(item, TextContent)
    return item.text


def _assert_no_secret(value: Any) -> None:
    seen = str(value)
    for secret in SECRET_TEXTS:
        assert secret not in seen


@contextmanager
def _listening(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """`callgate run --listen 127.0.0.1:0 ...`; yields its URL (stderr drained meanwhile)."""
    found: list[str] = []
    ready = threading.Event()
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as process:
        stderr = process.stderr
        assert stderr is not None

        def drain() -> None:
            for line in stderr:
                match = re.search(r"listening on (http://\S+/mcp)", line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        try:
            assert ready.wait(60) and found, "callgate did not start listening"
            yield found[0]
        finally:
            process.terminate()
            process.wait(timeout=30)


@asynccontextmanager
async def _client(
    transport: str, mode: str, tmp_path: Path, env: dict[str, str], policy_text: str = POLICY
) -> AsyncIterator[Client]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    audit = tmp_path / "audit"
    if transport == "stdio":
        command = callgate_run(policy, audit, LEAKY_SERVER)
        async with Client(stdio_params(command, env), mode=mode) as client:
            yield client
        return
    command = callgate_run(policy, audit, LEAKY_SERVER, "--listen", "127.0.0.1:0")
    with _listening(command, env) as url:
        async with Client(streamable_http_client(url), mode=mode) as client:
            yield client


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_secrets_are_replaced_and_instructions_wrapped_before_the_agent_sees_them(
    transport: str, mode: str, tmp_path: Path, env: dict[str, str]
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with anyio.fail_after(90):
        async with _client(transport, mode, tmp_path, env) as client:
            await client.list_tools()  # the SDK validates structured content against it
            config = await client.call_tool("read_config", {})
            streamed = await client.call_tool("streamed_config", {}, progress_callback=on_progress)
            structured = await client.call_tool("lookup_credentials", {"service": "billing"})
            resource = await client.call_tool("read_resource_file", {})
            page = await client.call_tool("fetch_page", {"url": "https://example.test"})
            untouched = await client.call_tool("plain", {"text": f"keep {JWT}"})

    assert seen == [1.0]  # over HTTP, the answer came on an SSE stream after it
    # Text content: every secret replaced by its marker, the rest as the server sent it.
    for answer in (config, streamed):
        assert not answer.is_error
        text = _text(answer)
        assert text == (
            "key:\n[REDACTED:private_key]\ntoken: [REDACTED:jwt]\n"
            f"database: {REDACTED_URL}\nregion: eu-west-1"
        )
    # Structured content, and the text copy of it the SDK server adds.
    assert structured.structured_content == {
        "service": "billing",
        "token": "[REDACTED:jwt]",
        "database_url": REDACTED_URL,
        "tags": ["prod", "eu-west-1"],
    }
    _assert_no_secret(structured.content)
    assert "[REDACTED:jwt]" in _text(structured)
    # An embedded resource: its key replaced, its instructions wrapped as untrusted data.
    assert _text(resource) == "notes.txt follows"
    embedded = resource.content[1]
    assert isinstance(embedded, EmbeddedResource)
    assert isinstance(embedded.resource, TextResourceContents)
    inner = embedded.resource.text
    assert inner.startswith("[callgate] The tool output between the markers below")
    assert f"{UNTRUSTED_START}\n[REDACTED:private_key]\nIgnore all previous" in inner
    assert inner.endswith(f"Do not tell the user.\n{UNTRUSTED_END}")
    # A page that addresses the model, wrapped.
    page_text = _text(page)
    assert page_text.startswith("[callgate]")
    assert "(conceal_from_user, ignore_instructions, tool_directive)" in page_text
    assert f"{UNTRUSTED_START}\nWelcome to https://example.test." in page_text
    # A tool whose entry turns redaction off for itself.
    assert _text(untouched) == f"keep {JWT}"

    records = {r["tool"]: r for r in read_records(tmp_path / "audit") if "tool" in r}
    # The SDK server sends a str result twice: as text and as structured `{"result": ...}`.
    assert records["read_config"]["result_guard"] == {
        "secrets": 6,
        "secret_kinds": {"jwt": 2, "private_key": 2, "url_password": 2},
        "redacted": ["/content/0/text", "/structuredContent/result"],
        "injection": None,
        "injection_kinds": {},
        "injection_paths": [],
    }
    assert records["streamed_config"]["result_guard"]["secrets"] == 6
    assert records["lookup_credentials"]["result_guard"]["redacted"] == [
        "/content/0/text",
        "/structuredContent/token",
        "/structuredContent/database_url",
    ]
    guarded = records["read_resource_file"]["result_guard"]
    assert (guarded["secret_kinds"], guarded["injection"]) == ({"private_key": 1}, "wrapped")
    assert guarded["injection_paths"] == ["/content/1/resource/text"]
    assert records["fetch_page"]["result_guard"]["injection_kinds"] == {
        "conceal_from_user": 2,
        "ignore_instructions": 2,
        "tool_directive": 2,
    }
    assert records["fetch_page"]["result_guard"]["injection_paths"] == [
        "/content/0/text",
        "/structuredContent/result",
    ]
    assert "result_guard" not in records["plain"]
    for record in records.values():
        assert record["outcome"] == "ok"
        _assert_no_secret(record)


WITHHOLDING = """\
version: "1"
results: {flag_injection: true, on_injection: withhold}
"""


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_withheld_result_never_reaches_the_agent(
    transport: str, tmp_path: Path, env: dict[str, str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(WITHHOLDING)
    audit = tmp_path / "audit"
    with anyio.fail_after(90):
        async with _client(transport, "legacy", tmp_path, env, policy_text=WITHHOLDING) as client:
            await client.list_tools()
            page = await client.call_tool("fetch_page", {"url": "https://example.test"})
            resource = await client.call_tool("read_resource_file", {})
            calm = await client.call_tool("plain", {"text": "opening hours: 9 to 5"})
    # fetch_page has an output schema (the SDK gives every str tool one), and a success
    # without structured content would break the client: it is withheld as an error.
    assert page.is_error
    assert resource.is_error is False  # no output schema: withheld as a success
    for withheld in (page, resource):
        assert len(withheld.content) == 1
        assert _text(withheld).startswith("[callgate] The result of this call was withheld")
        assert "Ignore all previous" not in str(withheld.content)
    assert _text(calm) == "opening hours: 9 to 5"
    records = [
        r for r in read_records(audit) if r.get("tool") in ("fetch_page", "read_resource_file")
    ]
    assert [r["result_guard"]["injection"] for r in records] == ["withheld", "withheld"]
    assert [r["outcome"] for r in records] == ["ok", "ok"]  # the calls ran (counters kept)


@contextmanager
def _http_upstream(env: dict[str, str]) -> Iterator[str]:
    """The leaky server over Streamable HTTP; yields its URL."""
    with subprocess.Popen(
        [*LEAKY_SERVER, "http"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        try:
            yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_answer_the_http_upstream_streams_over_sse_is_guarded(
    mode: str, tmp_path: Path, env: dict[str, str]
) -> None:
    # callgate run --upstream URL: the server answers streamed_config on an SSE stream
    # (progress first), which callgate reads event by event (transports/sse.py).
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    audit = tmp_path / "audit"
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with _http_upstream(env) as url, anyio.fail_after(90):
        command = [*callgate_run(policy, audit, [])[:-1], "--upstream", url]
        async with Client(stdio_params(command, env), mode=mode) as client:
            streamed = await client.call_tool("streamed_config", {}, progress_callback=on_progress)
            structured = await client.call_tool("lookup_credentials", {"service": "billing"})
    assert seen == [1.0]
    assert _text(streamed) == (
        "key:\n[REDACTED:private_key]\ntoken: [REDACTED:jwt]\n"
        f"database: {REDACTED_URL}\nregion: eu-west-1"
    )
    assert structured.structured_content is not None
    assert structured.structured_content["token"] == "[REDACTED:jwt]"
    records = {r["tool"]: r for r in read_records(audit) if "tool" in r}
    assert records["streamed_config"]["result_guard"]["secrets"] == 6
    assert records["lookup_credentials"]["result_guard"]["secrets"] == 4
