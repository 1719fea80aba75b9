"""The attack library: the shipped file, its format, and the choice by category and flags."""

from __future__ import annotations

import pytest

from callgate.catalogue.attacks import (
    AttackLibraryError,
    load_attack_library,
    parse_attack_library,
    select_attacks,
)
from callgate.classifier import Category, Flag


def _ids(category: Category, *flags: Flag) -> list[str]:
    return [attack.id for attack in select_attacks(load_attack_library(), category, flags)]


def test_the_shipped_library_loads_with_unique_ids() -> None:
    library = load_attack_library()

    assert len({attack.id for attack in library}) == len(library) >= 20


@pytest.mark.parametrize("category", list(Category))
def test_every_category_has_attacks_without_any_flag(category: Category) -> None:
    assert _ids(category)


@pytest.mark.parametrize(
    ("category", "flags", "expected"),
    [
        (Category.EXECUTE, (), {"execute-loop", "execute-exfiltrate-arguments"}),
        (Category.EXECUTE, (Flag.CODE_EXECUTION,), {"execute-attacker-code", "execute-backdoor"}),
        (Category.WRITE, (Flag.CODE_EXECUTION,), {"execute-attacker-code"}),
        (Category.EXECUTE, (Flag.INFRASTRUCTURE,), {"execute-backdoor", "infra-cost-runaway"}),
        (Category.EXECUTE, (Flag.EXTERNAL_COMMS,), {"send-spam-phishing", "send-exfiltrate"}),
        (
            Category.FINANCIAL,
            (Flag.MONEY,),
            {"money-repeat", "money-amount-tampering", "money-attacker-account"},
        ),
        (
            Category.DESTRUCTIVE,
            (),
            {"destroy-mass-deletion", "destroy-audit-trail", "destroy-lockout"},
        ),
        (Category.READ, (Flag.CREDENTIALS,), {"credentials-theft", "read-reconnaissance"}),
        (Category.WRITE, (Flag.CREDENTIALS,), {"credentials-escalation"}),
        (Category.READ, (Flag.PERSONAL_DATA,), {"personal-data-export"}),
        (Category.WRITE, (Flag.INFRASTRUCTURE,), {"infra-cost-runaway", "infra-open-network"}),
        (Category.WRITE, (Flag.BULK,), {"bulk-blast-radius"}),
        (Category.READ, (Flag.OPEN_WORLD,), {"open-world-ssrf", "open-world-injection"}),
        (Category.READ, (), {"read-reconnaissance", "read-context-leakage"}),
    ],
)
def test_selection_by_category_and_flags(
    category: Category, flags: tuple[Flag, ...], expected: set[str]
) -> None:
    assert expected <= set(_ids(category, *flags))


@pytest.mark.parametrize(
    ("category", "flags", "absent"),
    [
        (Category.READ, (Flag.CREDENTIALS,), "credentials-escalation"),
        (Category.READ, (Flag.INFRASTRUCTURE,), "infra-cost-runaway"),
        (Category.WRITE, (), "execute-attacker-code"),
        (Category.EXECUTE, (Flag.EXTERNAL_COMMS,), "execute-attacker-code"),
        (Category.READ, (Flag.EXTERNAL_COMMS,), "send-spam-phishing"),
    ],
)
def test_attacks_do_not_reach_beyond_their_keys(
    category: Category, flags: tuple[Flag, ...], absent: str
) -> None:
    assert absent not in _ids(category, *flags)


def test_selection_says_what_matched_and_keeps_library_order() -> None:
    library = parse_attack_library(
        """
attacks:
  - {id: b, title: B, how: h, limits: l, when: [{flags: [bulk, credentials]}]}
  - {id: a, title: A, how: h, limits: l, when: [{category: [read]}, {flags: [bulk]}]}
"""
    )

    chosen = select_attacks(library, Category.WRITE, [Flag.CREDENTIALS, Flag.BULK])

    assert [(a.id, a.because) for a in chosen] == [
        ("b", "flag bulk and credentials"),
        ("a", "flag bulk"),
    ]
    assert select_attacks(library, Category.WRITE, [Flag.CREDENTIALS]) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("attacks: [unclosed", "not valid YAML"),
        ("attacks: []", "at least 1"),
        ("attacks: [{id: a, title: A, how: h, limits: l, when: [{}]}]", "needs a category"),
        ("attacks: [{id: a, title: A, how: h, limits: l, when: [{flags: [cash]}]}]", "cash"),
        (
            "attacks: [{id: a, title: A, how: h, limits: l, when: [{category: [read]}]},"
            " {id: a, title: B, how: h, limits: l, when: [{category: [read]}]}]",
            "duplicate attack ids: a",
        ),
        ("attacks: [{id: a, title: A, how: h, when: [{category: [read]}]}]", "limits"),
    ],
)
def test_a_bad_library_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(AttackLibraryError, match=message):
        parse_attack_library(text)
