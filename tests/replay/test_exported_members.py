"""`callgate.replay.__all__` is the package's public API: every name is there, and every
public name the package root imports is listed."""

from __future__ import annotations

import callgate.replay


def test_every_listed_name_exists_and_every_public_name_is_listed() -> None:
    exported = set(callgate.replay.__all__)
    assert all(hasattr(callgate.replay, name) for name in exported)
    public = {
        name
        for name, value in vars(callgate.replay).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("callgate.replay.")
    }
    assert public <= exported
    assert len(callgate.replay.__all__) == len(exported)  # no name twice
