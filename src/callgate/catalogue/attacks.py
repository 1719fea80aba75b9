"""The attack library: how agents abuse a kind of access, kept as data in `attacks.yaml`.

`load_attack_library()` reads the file shipped with callgate (the only I/O here);
`parse_attack_library(text)` checks any such text; `select_attacks(library, category,
flags)` is the pure choice a risk card makes, in the file's order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from callgate.classifier import Category, Flag

LIBRARY_FILE = "attacks.yaml"


class AttackLibraryError(ValueError):
    """An attack library that is not valid YAML or does not match the format."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WhenSpec(_Spec):
    """One alternative of an attack's `when`: every key it gives must match."""

    category: tuple[Category, ...] = ()
    flags: tuple[Flag, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> WhenSpec:
        # An empty alternative would match every tool: almost certainly a typo.
        if not self.category and not self.flags:
            raise ValueError("a `when` alternative needs a category or flags")
        return self


class AttackSpec(_Spec):
    """One attack pattern as written in the library."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)
    when: tuple[WhenSpec, ...] = Field(min_length=1)
    how: str = Field(min_length=1)
    limits: str = Field(min_length=1)


class LibrarySpec(_Spec):
    """The whole file."""

    attacks: tuple[AttackSpec, ...] = Field(min_length=1)

    @field_validator("attacks")
    @classmethod
    def _unique_ids(cls, attacks: tuple[AttackSpec, ...]) -> tuple[AttackSpec, ...]:
        ids = [attack.id for attack in attacks]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"duplicate attack ids: {', '.join(repeated)}")
        return attacks


@dataclass(frozen=True, slots=True)
class Attack:
    """An attack that applies to a tool, and what about the tool made it apply."""

    id: str
    title: str
    how: str
    limits: str
    because: str


def parse_attack_library(text: str, origin: str = LIBRARY_FILE) -> tuple[AttackSpec, ...]:
    """The attacks in a library text; `AttackLibraryError` says what is wrong."""
    try:
        data = YAML(typ="safe").load(text)
        return LibrarySpec.model_validate(data).attacks
    except YAMLError as error:
        raise AttackLibraryError(f"{origin}: not valid YAML: {error}") from error
    except ValidationError as error:
        raise AttackLibraryError(f"{origin}: {error}") from error


@functools.cache
def load_attack_library() -> tuple[AttackSpec, ...]:
    """The library shipped with callgate (read once)."""
    text = resources.files("callgate.catalogue").joinpath(LIBRARY_FILE).read_text("utf-8")
    return parse_attack_library(text)


def select_attacks(
    library: Sequence[AttackSpec], category: Category, flags: Iterable[Flag]
) -> tuple[Attack, ...]:
    """The attacks that exploit a tool of this category with these flags, in library order."""
    present = frozenset(flags)
    chosen: list[Attack] = []
    for spec in library:
        because = next((_because(w) for w in spec.when if _matches(w, category, present)), None)
        if because is not None:
            chosen.append(Attack(spec.id, spec.title, spec.how, spec.limits, because))
    return tuple(chosen)


def _matches(when: WhenSpec, category: Category, flags: frozenset[Flag]) -> bool:
    if when.category and category not in when.category:
        return False
    return all(flag in flags for flag in when.flags)


def _because(when: WhenSpec) -> str:
    parts = []
    if when.category:
        parts.append("category " + " or ".join(c.value for c in when.category))
    if when.flags:
        parts.append("flag " + " and ".join(f.value for f in when.flags))
    return ", ".join(parts)
