"""DNS-rebinding protection for the HTTP listener: which Host and Origin headers it accepts.

A browser page on an attacker's site can make requests to `127.0.0.1:PORT` by rebinding
its own hostname to loopback; such requests carry the attacker's Host (and Origin). The
listener therefore accepts only Host values naming the loopback interface (or the hosts the
operator configured), and Origin values on those hosts; a request without Origin is not
from a browser page and passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP-level refusal: status code and a short reason."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The host names (without port) the listener answers to; loopback by default."""

    hosts: frozenset[str] = LOOPBACK_HOSTS

    @classmethod
    def allowing(cls, extra_hosts: Iterable[str]) -> HostPolicy:
        """Loopback plus the operator's extra host names (case-insensitive)."""
        return cls(LOOPBACK_HOSTS | {host.lower().strip("[]") for host in extra_hosts})

    def check(self, host: str | None, origin: str | None) -> Refusal | None:
        """Refuse a request whose Host or Origin names a host outside the policy."""
        if not host or _hostname(host) not in self.hosts:
            return Refusal(421, f"Host header {host!r} is not allowed")
        if origin is None:
            return None
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.hosts:
            return Refusal(403, f"Origin {origin!r} is not allowed")
        return None


def _hostname(host: str) -> str:
    """The host name of a Host header value (`[::1]:8080` -> `::1`, `Example:80` -> `example`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def is_loopback(address: str) -> bool:
    """Whether a listen address is on the loopback interface."""
    return address.strip("[]").lower() in LOOPBACK_HOSTS or address.startswith("127.")
