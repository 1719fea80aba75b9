"""Telling clients that the tools they may see changed (`notifications/tools/list_changed`).

callgate itself changes a client's tool list when a policy reload hides or unhides tools,
or turns `annotate_tools` on or off (each listed tool's `_meta` gains or loses its risk),
so it announces that, whatever the upstream server advertises. Transports enrol the
client sessions that listed tools, each with a way to reach it:

- stdio: the one client of the process (`StdioProxy.notify`), announced to once its
  server's tools were listed;
- the HTTP listener: a 2025-11-25 session on its standalone GET stream, a 2026-07-28
  client on its open `subscriptions/listen` stream that asked for tool changes.

The watcher calls `on_reload(old, new)` after every valid reload; only a change in what
is hidden (over the tools servers listed, see `hiding_changed`) or in `annotate_tools` is
announced. Delivery is concurrent and bounded: a client that cannot be reached in
`timeout` seconds is dropped (it re-lists when it comes back), so one stuck client never
delays the others.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Final

import anyio

from callgate.proxy.catalog import Hiding, ToolCatalog, hiding_changed

logger = logging.getLogger(__name__)

LIST_CHANGED: Final = "notifications/tools/list_changed"
DELIVERY_TIMEOUT: Final = 5.0
MAX_AUDIENCES: Final = 10_000
"""Sessions remembered (the oldest is forgotten first: one that never said goodbye)."""

Notify = Callable[[], Awaitable[None]]
"""Sends one `notifications/tools/list_changed` to one client; raises when it cannot."""


@dataclass(frozen=True, slots=True)
class _Audience:
    notify: Notify
    server: str | None
    """Announce only once this server's tools were listed (None: the session listed)."""


class ToolListAnnouncer:
    """The client sessions that listed tools, and how to tell them the list changed."""

    def __init__(
        self, catalog: ToolCatalog | None = None, *, timeout: float = DELIVERY_TIMEOUT
    ) -> None:
        self.catalog = catalog or ToolCatalog()
        """The tool definitions servers listed (the gate records them here)."""
        self._timeout = timeout
        self._audiences: dict[Hashable, _Audience] = {}
        self.announced = 0
        """How many announcements were made (each to every enrolled session)."""

    def join(self, key: Hashable, notify: Notify, *, server: str | None = None) -> None:
        """Enrol a session (again: its `notify` is replaced).

        With `server`, the session is told only once that server's tools were listed (a
        stdio proxy enrols at start, before its client listed anything).
        """
        self._audiences.pop(key, None)
        self._audiences[key] = _Audience(notify, server)
        if len(self._audiences) > MAX_AUDIENCES:
            del self._audiences[next(iter(self._audiences))]

    def leave(self, key: Hashable) -> None:
        """Forget a session (it ended, or its stream closed)."""
        self._audiences.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._audiences

    async def on_reload(self, old: Hiding, new: Hiding) -> int:
        """Announce when `new` hides or shows tools `old` did not, or annotates them where
        `old` did not (or the reverse); returns sessions told."""
        if hiding_changed(old, new, self.catalog):
            return await self.announce()
        if old.annotate_tools != new.annotate_tools:
            turned = "on" if new.annotate_tools else "off"
            return await self.announce(f"annotate_tools turned {turned}")
        return 0

    async def announce(self, change: str = "hidden tools changed") -> int:
        """Tell every enrolled session that listed tools; returns how many were reached."""
        targets = [
            (key, audience)
            for key, audience in self._audiences.items()
            if audience.server is None or self.catalog.listed(audience.server)
        ]
        self.announced += 1
        reached: list[Hashable] = []

        async def deliver(key: Hashable, audience: _Audience) -> None:
            try:
                with anyio.fail_after(self._timeout):
                    await audience.notify()
            except Exception as exc:  # any failure: this client is gone
                logger.info("could not tell a client its tools changed: %r", exc)
                if self._audiences.get(key) is audience:
                    del self._audiences[key]
                return
            reached.append(key)

        async with anyio.create_task_group() as group:
            for key, audience in targets:
                group.start_soon(deliver, key, audience)
        if targets:
            print(
                f"callgate: {change}; told {len(reached)} client session(s)",
                file=sys.stderr,
            )
        return len(reached)
