"""Hot reload: the policy file is watched and swapped in between calls.

A background task compares the file's (inode, size, mtime) every `interval` seconds (a
`stat`, nothing on the hot path). A changed file is loaded and compiled in a worker
thread; when valid it becomes `current()` for the next call, when invalid the old policy
stays and every error is written to stderr. Counters live in the store, not in the
policy, so they survive reloads. Subscribers are called with (old, new) after each valid
reload, on the event loop (the tool-list announcer is one).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

from callgate.errors import PolicyError

T = TypeVar("T")

ReloadListener = Callable[[T, T], Awaitable[object]]
"""Called with (old policy, new policy) after a valid reload."""

_Signature = tuple[int, int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def report_invalid(path: Path, error: Exception) -> None:
    """Write to stderr why an edited policy is refused (every error), and that the old stays."""
    if isinstance(error, PolicyError):
        lines = [issue.render() for issue in error.issues] or [str(error)]
    else:
        lines = [f"{type(error).__name__}: {error}"]
    print(
        f"callgate: {path}: the edited policy is invalid; keeping the previous one",
        file=sys.stderr,
    )
    for line in lines:
        print(f"  {line}", file=sys.stderr)


class PolicyWatcher(Generic[T]):
    """Holds the policy in force and replaces it when the file changes validly."""

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        *,
        interval: float = 0.5,
        report: Callable[[Path, Exception], None] = report_invalid,
    ) -> None:
        """Load the policy now; a `PolicyError` here propagates (nothing to fall back on)."""
        self.path = path
        self.interval = interval
        self._load = load
        self._report = report
        self._seen = _signature(path)
        self._current = load(path)
        self._listeners: list[ReloadListener[T]] = []
        self.reloads = 0

    def subscribe(self, listener: ReloadListener[T]) -> None:
        """Be called with (old, new) after each valid reload that `watch` applies."""
        self._listeners.append(listener)

    def current(self) -> T:
        """The policy to judge the next call with."""
        return self._current

    def changed(self) -> bool:
        """Whether the file differs from the last version looked at (valid or not)."""
        return _signature(self.path) != self._seen

    def reload(self) -> bool:
        """Load the file if it changed; True when a new policy took effect."""
        signature = _signature(self.path)
        if signature == self._seen or signature is None:
            # A missing file (mid-rename by an editor) is not an edit; wait for it.
            return False
        self._seen = signature
        try:
            self._current = self._load(self.path)
        except (PolicyError, OSError, ValueError) as error:
            self._report(self.path, error)
            return False
        self.reloads += 1
        print(f"callgate: {self.path}: policy reloaded", file=sys.stderr)
        return True

    async def watch(self) -> None:
        """Poll forever (run it in a task group; cancel to stop)."""
        while True:
            await anyio.sleep(self.interval)
            if self.changed():
                await self.apply()

    async def apply(self) -> bool:
        """Reload (in a worker thread) and tell the subscribers; True when it took effect."""
        old = self._current
        if not await anyio.to_thread.run_sync(self.reload):
            return False
        for listener in self._listeners:
            try:
                await listener(old, self._current)
            except Exception:  # a subscriber's bug must not stop the watching
                traceback.print_exc(file=sys.stderr)
        return True
