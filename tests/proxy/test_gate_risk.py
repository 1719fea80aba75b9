"""The gate and the tools' risk: flags for a policy's `flags:` entries, and the risk each
listed tool carries in `_meta` under `annotate_tools: true`.

The gate is built as `callgate.app` builds it, with real compiled policies and the real
tool catalog; where a test needs a tool with given flags, they are injected through the
gate's `flag` collaborator, so no test depends on what the classifier decides.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from callgate.app import build_classifier
from callgate.classifier import (
    Category,
    Classification,
    Confidence,
    Flag,
    Severity,
    classify_tool,
)
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
    # Each call's flags are looked up to judge it (and again to audit a refusal).
    assert list(dict.fromkeys(flags.asked)) == [
        ("srv", "rotate_key"),
        ("srv", "wipe_all"),
        ("srv", "echo"),
    ]


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


# -- annotate_tools ---------------------------------------------------------------------

VERDICT = Classification(
    name="any",
    category=Category.DESTRUCTIVE,
    severity=Severity.CRITICAL,
    confidence=Confidence.LOW,
    score=0.4,
    reasons=("injected",),
    flags=(Flag.BULK, Flag.CREDENTIALS),
)
LISTED: list[Any] = [
    {"name": "plain", "inputSchema": {"type": "object"}},
    {"name": "owned", "_meta": {"io.example/owner": "ops", "callgate/risk": "forged"}},
    {"name": "odd_meta", "_meta": ["not", "an", "object"]},
    {"name": "secret"},
    {"title": "no name"},
]


async def listed_through(gate: Gate) -> tuple[Message, Message]:
    """A `tools/list` answer as the server sent it, and as the gate passed it on."""
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
    body = {"jsonrpc": "2.0", "id": 7, "result": {"tools": LISTED, "nextCursor": "page-2"}}
    sent = Message(body, encode(body))
    with anyio.fail_after(5):
        await gate.on_client_message(Message(request, encode(request)), PEER)
        passed = await gate.on_server_message(sent, PEER)
    assert passed is not None
    return sent, passed


def classify_as_verdict(asked: list[tuple[str, str]]) -> Callable[..., Classification]:
    def classify(server: str, definition: Mapping[str, Any]) -> Classification:
        asked.append((server, definition["name"]))
        return VERDICT

    return classify


async def test_annotate_tools_adds_the_risk_to_each_listed_tools_meta() -> None:
    asked: list[tuple[str, str]] = []
    policy = compiled('version: "1"\nannotate_tools: true\nhide: [secret]\n')
    _, passed = await listed_through(gate_for(policy, classify=classify_as_verdict(asked)))

    risk = VERDICT.to_meta()
    assert passed.raw == b""  # rewritten: the transport encodes the new body
    assert passed.body["result"] == {
        "tools": [
            {"name": "plain", "inputSchema": {"type": "object"}, "_meta": {"callgate/risk": risk}},
            {"name": "owned", "_meta": {"io.example/owner": "ops", "callgate/risk": risk}},
            {"name": "odd_meta", "_meta": ["not", "an", "object"]},
            {"title": "no name"},
        ],
        "nextCursor": "page-2",
    }
    assert asked == [("srv", "plain"), ("srv", "owned")]
    assert risk == {
        "category": "destructive",
        "severity": "critical",
        "confidence": "low",
        "flags": ["bulk", "credentials"],
    }


@pytest.mark.parametrize("policy", ['version: "1"\n', 'version: "1"\nannotate_tools: false\n'])
async def test_without_annotate_tools_a_listing_is_passed_on_as_it_came(policy: str) -> None:
    asked: list[tuple[str, str]] = []
    sent, passed = await listed_through(
        gate_for(compiled(policy), classify=classify_as_verdict(asked))
    )
    assert passed is sent  # the transport writes the server's own bytes
    assert asked == []


def test_the_classifier_gives_a_listed_definition_its_learned_verdict() -> None:
    catalog = ToolCatalog(max_tools_per_server=1)
    risk = build_classifier(catalog)
    first = {"name": "drop_table", "description": "Drop a table"}
    beyond = {"name": "list_tables", "description": "List the tables"}
    catalog.learn("srv", [first, beyond])  # the second is beyond the bound: not learned

    assert risk.classify("srv", first) is risk.classification("srv", "drop_table")
    assert risk.classification("srv", "list_tables") is None
    assert risk.classify("srv", beyond) == classify_tool(beyond)
    changed = {**first, "description": "List the tables"}
    assert risk.classify("srv", changed) == classify_tool(changed)
