"""Bearer-token identities from a real policy's `agents:`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from callgate.policy.compiler import load_compiled_policy
from callgate.policy.decision import Agent
from callgate.proxy.identity import build_authenticator

ALICE_HASH = hashlib.sha256(b"alice-secret").hexdigest()


def _policy(tmp_path: Path, agents: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f'version: "1"\n{agents}')
    return path


def test_tokens_name_agents_and_anything_else_is_refused(tmp_path: Path) -> None:
    policy = load_compiled_policy(
        _policy(
            tmp_path,
            "agents:\n"
            f"  - {{name: alice, roles: [ops], token_sha256: {ALICE_HASH}}}\n"
            "  - {name: bob, token_env: BOB_TOKEN}\n"
            "  - {name: carol, token_env: CAROL_TOKEN}\n",
        )
    )
    authenticate = build_authenticator(lambda: policy.agents, environ={"BOB_TOKEN": "bob-t"})
    assert authenticate({"authorization": "Bearer alice-secret"}) == Agent(
        "alice", frozenset({"ops"})
    )
    assert authenticate({"authorization": "bearer bob-t"}) == Agent("bob")
    assert authenticate({"authorization": "Bearer wrong"}) is None
    assert authenticate({"authorization": "Basic YWxpY2U6eA=="}) is None
    assert authenticate({"authorization": "Bearer "}) is None
    assert authenticate({}) is None
    # carol's variable is unset: nobody can log in as carol, not even with an empty token.
    assert authenticate({"authorization": "Bearer"}) is None


def test_without_agents_every_request_is_the_default_agent(tmp_path: Path) -> None:
    policy = load_compiled_policy(_policy(tmp_path, ""))
    authenticate = build_authenticator(lambda: policy.agents, default=Agent("cli"))
    assert authenticate({}) == Agent("cli")


def test_a_reloaded_policy_changes_who_may_log_in(tmp_path: Path) -> None:
    current = [load_compiled_policy(_policy(tmp_path, ""))]
    authenticate = build_authenticator(lambda: current[0].agents)
    assert authenticate({}) is not None
    current[0] = load_compiled_policy(
        _policy(tmp_path, f"agents:\n  - {{name: alice, token_sha256: {ALICE_HASH}}}\n")
    )
    assert authenticate({}) is None
    assert authenticate({"authorization": "Bearer alice-secret"}) == Agent("alice")
