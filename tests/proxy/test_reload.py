"""The policy watcher with the real loader and compiler: valid edits apply, bad ones don't."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callgate.errors import PolicyError
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.proxy.reload import PolicyWatcher

HIDE_A = 'version: "1"\nhide: [a]\n'
HIDE_B = 'version: "1"\nhide: [b]\n'


def _watcher(path: Path, reports: list[str]) -> PolicyWatcher[CompiledPolicy]:
    return PolicyWatcher(
        path, load_compiled_policy, report=lambda _path, error: reports.append(str(error))
    )


def _touch_later(path: Path) -> None:
    # Make sure the mtime moves even on filesystems with coarse timestamps.
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


def test_valid_edit_replaces_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HIDE_A)
    reports: list[str] = []
    watcher = _watcher(path, reports)
    assert watcher.current().is_hidden("a")
    assert not watcher.reload()  # unchanged file: nothing to do
    path.write_text(HIDE_B)
    _touch_later(path)
    assert watcher.changed()
    assert watcher.reload()
    assert watcher.current().is_hidden("b")
    assert not watcher.current().is_hidden("a")
    assert reports == []


def test_invalid_edit_keeps_the_old_policy_and_reports_it_once(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HIDE_A)
    reports: list[str] = []
    watcher = _watcher(path, reports)
    path.write_text('version: "1"\nhide: [a]\ndefualt: deny\n')
    _touch_later(path)
    assert not watcher.reload()
    assert watcher.current().is_hidden("a")
    assert len(reports) == 1
    assert "defualt" in reports[0]
    assert not watcher.reload()  # the same bad file is not re-reported
    assert len(reports) == 1


def test_missing_file_mid_save_is_not_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HIDE_A)
    watcher = _watcher(path, [])
    path.unlink()
    assert not watcher.reload()
    assert watcher.current().is_hidden("a")


def test_an_invalid_policy_at_start_raises_every_issue(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('version: "2"\nbogus: 1\n')
    with pytest.raises(PolicyError) as caught:
        _watcher(path, [])
    assert len(caught.value.issues) >= 2
