"""A small real interceptor for the transport tests, and entry points that run it.

`Guard` refuses `tools/call` of `delete_everything` with a local tool-error result (the
upstream never sees it), passes everything else, and records every message it is shown,
so tests can check that both directions (including messages inside SSE streams) went
through it. With `CALLGATE_TEST_RECORD` set it appends each record to that JSON-lines file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.transports.http_upstream import run_stdio_to_http

REFUSED_TOOL = "delete_everything"
ASK_FIRST = "ask me first"
"""An `echo` of this text is forwarded only if the client says yes when callgate asks."""


@dataclass
class Guard:
    """Refuses one tool; records (direction, peer session, version, body) for each message."""

    records: list[dict[str, Any]] = field(default_factory=list)
    lost: list[Peer] = field(default_factory=list)
    path: str | None = field(default_factory=lambda: os.environ.get("CALLGATE_TEST_RECORD"))

    def _record(self, direction: str, body: dict[str, Any], peer: Peer) -> None:
        record = {
            "direction": direction,
            "session": peer.session,
            "version": peer.protocol_version,
            "agent": peer.agent.name,
            "body": body,
        }
        self.records.append(record)
        if self.path:
            with Path(self.path).open("a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        self._record("client", message.body, peer)
        params = message.body.get("params") or {}
        if message.method == "tools/call" and params.get("name") == REFUSED_TOOL:
            return self._refuse(message, peer, "refused tool")
        if message.method == "tools/call" and params.get("arguments") == {"text": ASK_FIRST}:
            return await self._ask_first(message, peer)
        return Forward(message)

    async def _ask_first(self, message: Message, peer: Peer) -> Forward | Reply:
        if peer.client is None:
            return self._refuse(message, peer, "no way to ask the client")
        answer = await peer.client.request(
            "elicitation/create",
            {
                "message": "callgate: allow this echo?",
                "requestedSchema": {"type": "object", "properties": {}},
            },
        )
        self._record("asked", answer, peer)
        if answer.get("result", {}).get("action") == "accept":
            return Forward(message)
        return self._refuse(message, peer, "the client said no")

    def _refuse(self, message: Message, peer: Peer, reason: str) -> Reply:
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": f'[callgate] denied by rule "guard": {reason}'}],
            "isError": True,
        }
        if peer.protocol_version == "2026-07-28":
            result["resultType"] = "complete"
        return Reply({"jsonrpc": "2.0", "id": message.body["id"], "result": result})

    async def on_server_message(self, message: Message, peer: Peer) -> Message | None:
        self._record("server", message.body, peer)
        return message

    async def on_upstream_lost(self, peer: Peer) -> None:
        self.lost.append(peer)
        self._record("lost", {}, peer)


def main() -> int:
    """`python guard.py stdio-to-http URL`: run the stdio-to-HTTP bridge with a Guard."""
    mode, url = sys.argv[1], sys.argv[2]
    assert mode == "stdio-to-http"
    return anyio.run(run_stdio_to_http, Guard(), url, {"X-Upstream-Token": "operator-secret"})


if __name__ == "__main__":
    sys.exit(main())
