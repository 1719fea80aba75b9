"""Who is calling over HTTP: bearer tokens matched against the policy's `agents:`.

Tokens are never stored in clear in the policy: each agent gives the SHA-256 of its token
(`token_sha256`) or names an environment variable holding the token (`token_env`). A
request's `Authorization: Bearer TOKEN` is hashed once and compared in constant time with
every agent's hash. A policy without `agents:` does not authenticate: every request is
the default agent (the listener is on loopback unless told otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from callgate.audit.record import build_event
from callgate.audit.sink import AuditSink
from callgate.policy.decision import ANONYMOUS, Agent

_Credentials = tuple[tuple[bytes, Agent], ...]


def token_digest(token: str) -> bytes:
    """SHA-256 of a token, the form `token_sha256` stores (as hex)."""
    return hashlib.sha256(token.encode()).digest()


def _credentials(agents: Sequence[Any], environ: Mapping[str, str]) -> _Credentials:
    known: list[tuple[bytes, Agent]] = []
    for spec in agents:
        agent = Agent(spec.name, frozenset(spec.roles))
        if spec.token_sha256 is not None:
            known.append((bytes.fromhex(spec.token_sha256), agent))
            continue
        token = environ.get(spec.token_env or "")
        if not token:
            # Fail closed: the agent cannot log in, and the operator is told why.
            print(
                f"callgate: agent {spec.name!r}: environment variable {spec.token_env} "
                "is unset or empty; that agent cannot authenticate",
                file=sys.stderr,
            )
            continue
        known.append((token_digest(token), agent))
    return tuple(known)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def build_authenticator(
    current_agents: Callable[[], Sequence[Any]],
    default: Agent | None = ANONYMOUS,
    environ: Mapping[str, str] | None = None,
) -> Callable[[Mapping[str, str]], Agent | None]:
    """headers -> the authenticated agent, or None (refuse with 401).

    `current_agents` returns the `agents:` of the policy in force, so a hot reload that
    adds or removes an agent applies to the next request. While there are none, every
    request is `default`; None refuses them all (a listener beyond loopback).
    """
    environ = os.environ if environ is None else environ
    # The credentials of the agents last seen; rebuilt only when a reload changes them.
    cache: list[tuple[tuple[Any, ...], _Credentials]] = []

    def credentials() -> _Credentials | None:
        agents = tuple(current_agents())
        if not agents:
            return None
        if not cache or cache[0][0] != agents:
            cache[:] = [(agents, _credentials(agents, environ))]
        return cache[0][1]

    def authenticate(headers: Mapping[str, str]) -> Agent | None:
        known = credentials()
        if known is None:
            return default
        token = bearer_token(headers)
        if token is None:
            return None
        digest = token_digest(token)
        match: Agent | None = None
        for expected, agent in known:
            # Compare with every agent (no early exit) so timing reveals nothing.
            if hmac.compare_digest(digest, expected):
                match = agent
        return match

    return authenticate


def audit_refusals(
    authenticate: Callable[[Mapping[str, str]], Agent | None],
    audit: AuditSink,
    server: str,
    clock: Callable[[], float] = time.time,
) -> Callable[[Mapping[str, str]], Agent | None]:
    """`authenticate`, with every refusal (HTTP 401) written to the audit log.

    The record says whether a token was missing or unknown, never the token itself.
    """

    def audited(headers: Mapping[str, str]) -> Agent | None:
        agent = authenticate(headers)
        if agent is None:
            given = bearer_token(headers) is not None
            audit.record(
                build_event(
                    now=clock(),
                    server=server,
                    session=headers.get("mcp-session-id") or "",
                    agent="",
                    method="auth",
                    tool=None,
                    decision="deny",
                    rule="agents",
                    reason="unknown bearer token" if given else "missing bearer token",
                )
            )
        return agent

    return audited
