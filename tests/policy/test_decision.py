"""`Decision`: its hand-written constructor stays the dataclass one, field for field."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, FrozenInstanceError, fields, replace

import pytest

from callgate.policy.decision import NO_GUARDS, Decision, Verdict


def test_the_constructor_takes_every_field_in_order_with_its_default() -> None:
    parameters = list(inspect.signature(Decision.__init__).parameters.values())[1:]
    positional = [p for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in positional] == [
        (f.name, inspect.Parameter.empty if f.default is MISSING else f.default)
        for f in fields(Decision)
    ]
    assert all(p.name.startswith("_") for p in parameters if p not in positional)


def test_every_field_is_set_and_frozen_and_replace_works() -> None:
    decision = Decision(Verdict.DENY, "no-deletes", "never", 1.5, (), {}, True, 60.0, None, ())
    assert [getattr(decision, f.name) for f in fields(Decision)] == [
        Verdict.DENY, "no-deletes", "never", 1.5, (), {}, True, 60.0, None, ()
    ]  # fmt: skip
    with pytest.raises(FrozenInstanceError):
        decision.rule = "other"  # type: ignore[misc]
    assert replace(decision, reason="not today").reason == "not today"
    assert replace(decision, reason="not today").rule == "no-deletes"


def test_no_guards_is_an_empty_mapping_equal_to_an_empty_dict() -> None:
    plain = Decision(Verdict.ALLOW)
    assert plain.guards is NO_GUARDS
    assert not plain.guards and len(plain.guards) == 0 and list(plain.guards.items()) == []
    assert plain == Decision(Verdict.ALLOW, guards={})
    with pytest.raises(KeyError):
        NO_GUARDS[object()]  # type: ignore[index]
