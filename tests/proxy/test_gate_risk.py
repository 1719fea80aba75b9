"""The gate judges with the tools' risk: flags for a policy's `flags:` entries.

The gate is built as `callgate.app` builds it, with real compiled policies and the real
tool catalog; where a test needs a tool with given flags, they are injected through the
gate's `flag` collaborator, so no test depends on what the classifier decides.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from callgate.app import build_classifier
from callgate.classifier import Flag, classify_tool
from callgate.policy.compiler import CompiledPolicy, compile_policy
from callgate.policy.loader import load_policy_text
from callgate.proxy.audit import NullAuditSink
from callgate.proxy.catalog import ToolCatalog
from callgate.proxy.gate import Gate, Judge
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.state.memory import MemoryStore

pytestmark = pytest.mark.anyio

PEER = Peer(server="srv", session="s1")
FLAGGED = {"rotate_key": ("credentials",), "wipe_all": ("bulk", "credentials")}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Fixed:
    policy: CompiledPolicy

    def current(self) -> Judge:
        return self.policy


@dataclass
class Flags:
    """The gate's `flag` collaborator: fixed flags per tool, and every lookup made."""

    asked: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, server: str, tool: str) -> tuple[str, ...]:
        self.asked.append((server, tool))
        return FLAGGED.get(tool, ())


def compiled(text: str) -> CompiledPolicy:
    return compile_policy(load_policy_text(textwrap.dedent(text)))


def gate_for(policy: CompiledPolicy, **collaborators: Any) -> Gate:
    return Gate(policy=Fixed(policy), store=MemoryStore(), audit=NullAuditSink(), **collaborators)


def call(request_id: int, tool: str) -> Message:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool}}
    return Message(body, encode(body))


def verdict(answer: Forward | Reply) -> str:
    if isinstance(answer, Forward):
        return "forwarded"
    decision: str = answer.body["result"]["_meta"]["callgate/decision"]["verdict"]
    return decision


WITH_FLAGS = compiled(
    """
    version: "1"
    flags:
      credentials:
        rules:
          - {name: "no credentials", action: deny}
    """
)


async def test_a_tool_with_a_flag_gets_the_flag_entries_rules() -> None:
    flags = Flags()
    gate = gate_for(WITH_FLAGS, flag=flags)
    with anyio.fail_after(5):
        answers = [
            await gate.on_client_message(call(n, tool), PEER)
            for n, tool in enumerate(["rotate_key", "wipe_all", "echo"])
        ]
    assert [verdict(answer) for answer in answers] == ["deny", "deny", "forwarded"]
    assert flags.asked == [("srv", "rotate_key"), ("srv", "wipe_all"), ("srv", "echo")]


async def test_a_policy_without_flag_entries_never_looks_flags_up() -> None:
    policy = compiled(
        """
        version: "1"
        categories:
          destructive: {rules: [{name: "no destruction", action: deny}]}
        """
    )
    flags = Flags()
    gate = gate_for(policy, flag=flags, categorize=lambda server, tool: "read")
    with anyio.fail_after(5):
        answer = await gate.on_client_message(call(1, "rotate_key"), PEER)
    assert isinstance(answer, Forward)
    assert flags.asked == []


def test_the_classifier_gives_learned_tools_their_flags_and_unlisted_ones_by_name() -> None:
    catalog = ToolCatalog()
    risk = build_classifier(catalog)
    listed = {
        "name": "rotate_api_key",
        "description": "Rotate the API key and return the new secret token",
        "inputSchema": {"type": "object", "properties": {"key_id": {"type": "string"}}},
    }
    catalog.learn("srv", [listed])

    verdict = classify_tool(listed)
    assert risk.flags("srv", "rotate_api_key") == verdict.flags
    assert risk.flags_of("srv", "rotate_api_key") == verdict.flags
    assert risk.category_of("srv", "rotate_api_key") == verdict.category.value
    assert risk.flags("srv", "never_listed") is None
    assert risk.flags("other", "rotate_api_key") is None
    by_name = classify_tool({"name": "never_listed"})
    assert risk.flags_of("srv", "never_listed") == by_name.flags
    assert risk.category_of("srv", "never_listed") == by_name.category.value


EVERY_FLAG_DENIES = compiled(
    'version: "1"\nflags:\n'
    + "".join(
        f"  {flag.value}: {{rules: [{{name: no-{flag.value}, action: deny}}]}}\n" for flag in Flag
    )
)


async def test_the_gate_judges_a_listed_tool_by_the_flags_the_classifier_gave_it() -> None:
    catalog = ToolCatalog()
    risk = build_classifier(catalog)  # wired as callgate.app.open_gate wires it
    gate = gate_for(
        EVERY_FLAG_DENIES, catalog=catalog, categorize=risk.category_of, flag=risk.flags_of
    )
    tools: list[dict[str, Any]] = [
        {
            "name": "delete_all_customer_records",
            "description": "Delete every customer record, with names, emails and card numbers",
            "inputSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}},
        },
        {"name": "get_time", "description": "The current time", "inputSchema": {"type": "object"}},
    ]
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    result = {"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}}
    with anyio.fail_after(5):
        await gate.on_client_message(Message(listing, encode(listing)), PEER)
        await gate.on_server_message(Message(result, encode(result)), PEER)
        for number, tool in enumerate(tools, start=2):
            flags = classify_tool(tool).flags
            answer = await gate.on_client_message(call(number, tool["name"]), PEER)
            assert verdict(answer) == ("deny" if flags else "forwarded"), (tool["name"], flags)
            if flags:  # the entries run in file order, which is the enum's here
                assert isinstance(answer, Reply)
                first = next(flag for flag in Flag if flag in flags)
                decision = answer.body["result"]["_meta"]["callgate/decision"]
                assert decision["rule"] == f"no-{first.value}"
