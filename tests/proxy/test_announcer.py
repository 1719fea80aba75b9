"""The tool-list announcer with real compiled policies and a real watcher: who is told when."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from callgate.policy.compiler import CompiledPolicy, compile_policy, load_compiled_policy
from callgate.policy.loader import load_policy_text
from callgate.proxy.announcer import ToolListAnnouncer
from callgate.proxy.catalog import ToolCatalog, hiding_changed
from callgate.proxy.reload import PolicyWatcher

pytestmark = pytest.mark.anyio

TOOLS = [{"name": "echo"}, {"name": "delete_all"}, {"name": "read"}]


def policy(hide: str) -> CompiledPolicy:
    return compile_policy(load_policy_text(f'version: "1"\nhide: {hide}\n'))


def listed() -> ToolCatalog:
    catalog = ToolCatalog()
    catalog.learn("srv", TOOLS)
    return catalog


def test_hiding_a_listed_tool_is_a_change() -> None:
    assert hiding_changed(policy("[]"), policy("[echo]"), listed())
    assert hiding_changed(policy("[delete_*]"), policy("[]"), listed())


def test_hiding_tools_nobody_listed_is_no_change() -> None:
    assert not hiding_changed(policy("[]"), policy("[nothing_*, other]"), listed())
    assert not hiding_changed(policy("[echo]"), policy("[ech*]"), listed())


def test_without_listings_the_hide_entries_are_compared() -> None:
    empty = ToolCatalog()
    assert hiding_changed(policy("[]"), policy("[a_*]"), empty)
    assert not hiding_changed(policy("[a_*, b]"), policy("[b, a_*]"), empty)


class Inbox:
    """A client session's notify callback that counts what reached it."""

    def __init__(self, fail: bool = False) -> None:
        self.count = 0
        self.fail = fail

    async def __call__(self) -> None:
        if self.fail:
            raise BrokenPipeError("client gone")
        self.count += 1


async def test_only_sessions_whose_server_was_listed_are_told() -> None:
    announcer = ToolListAnnouncer()
    before, after = Inbox(), Inbox()
    announcer.join("a", before, server="srv")
    assert await announcer.on_reload(policy("[]"), policy("[a]")) == 0  # nothing listed yet
    announcer.catalog.learn("srv", TOOLS)
    announcer.join("b", after)
    assert await announcer.on_reload(policy("[]"), policy("[echo]")) == 2
    assert (before.count, after.count) == (1, 1)


async def test_a_reload_that_hides_nothing_new_tells_nobody() -> None:
    announcer = ToolListAnnouncer(listed())
    inbox = Inbox()
    announcer.join("a", inbox)
    assert await announcer.on_reload(policy("[echo]"), policy("[echo, unknown]")) == 0
    assert inbox.count == 0


async def test_turning_annotate_tools_on_or_off_tells_the_sessions_that_listed() -> None:
    announcer = ToolListAnnouncer(listed())
    inbox = Inbox()
    announcer.join("a", inbox)
    plain = policy("[]")
    annotating = compile_policy(load_policy_text('version: "1"\nannotate_tools: true\n'))
    assert await announcer.on_reload(plain, annotating) == 1
    assert await announcer.on_reload(annotating, annotating) == 0
    assert await announcer.on_reload(annotating, plain) == 1
    assert inbox.count == 2


async def test_an_unreachable_session_is_dropped_and_the_others_still_told() -> None:
    announcer = ToolListAnnouncer(listed())
    gone, alive = Inbox(fail=True), Inbox()
    announcer.join("gone", gone)
    announcer.join("alive", alive)
    assert await announcer.announce() == 1
    assert "gone" not in announcer
    assert alive.count == 1
    announcer.leave("alive")
    assert await announcer.announce() == 0


async def test_a_stuck_session_does_not_hold_up_the_others() -> None:
    announcer = ToolListAnnouncer(listed(), timeout=0.2)
    never = anyio.Event()

    async def stuck() -> None:
        await never.wait()

    alive = Inbox()
    announcer.join("stuck", stuck)
    announcer.join("alive", alive)
    with anyio.fail_after(10):
        assert await announcer.announce() == 1
    assert alive.count == 1
    assert "stuck" not in announcer


async def test_the_watcher_tells_subscribers_old_and_new_after_a_valid_edit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('version: "1"\nhide: []\n')
    watcher = PolicyWatcher(path, load_compiled_policy, report=lambda _p, _e: None)
    announcer = ToolListAnnouncer(listed())
    inbox = Inbox()
    announcer.join("a", inbox)
    watcher.subscribe(announcer.on_reload)
    path.write_text('version: "1"\nhide: [echo]\n')
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    assert await watcher.apply()
    assert inbox.count == 1
    path.write_text('version: "1"\nhide: [echo\n')  # invalid: nothing applied, nobody told
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 2_000_000_000))
    assert not await watcher.apply()
    assert inbox.count == 1
