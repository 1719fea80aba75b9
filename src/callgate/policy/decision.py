"""What the engine is asked (a tool call and the facts around it) and what it answers.

These types are the contract between the pure policy engine and the edges (proxy, CLI,
state stores). They carry no behaviour beyond small conveniences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from callgate.state.counters import Charge, CounterKey, Guard


class Verdict(StrEnum):
    """The outcome of judging one call."""

    ALLOW = "allow"
    DENY = "deny"
    HIDDEN = "hidden"
    RATE_LIMITED = "rate_limited"
    APPROVAL_REQUIRED = "approval_required"


class ShadowVerdict(StrEnum):
    """What a rule in shadow mode would have done to a call it let through."""

    WOULD_DENY = "would_deny"
    WOULD_RATE_LIMIT = "would_rate_limit"
    WOULD_REQUIRE_APPROVAL = "would_require_approval"


@dataclass(frozen=True, slots=True)
class Shadow:
    """The decision a rule in shadow mode would have made: its verdict, rule and reason.

    The call went on as if the rule were absent; telemetry and the audit log report it
    apart from the enforced verdict.
    """

    verdict: ShadowVerdict
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Agent:
    """Who is calling: a name and optional roles."""

    name: str
    roles: frozenset[str] = frozenset()


ANONYMOUS = Agent("anonymous")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One `tools/call`: the upstream server it goes to, the tool name and its arguments."""

    server: str
    tool: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything outside the call the engine may look at; `now` is seconds since the epoch.

    `category` and `flags` are the classifier's verdict on the tool (a tool entry's own
    `category:` and `flags:` override them); `counters` maps a state path without its
    `state.` prefix (`"create_charge.spend"`, `"_global.calls"`) to the counter's current
    value in its current window.
    """

    now: float
    agent: Agent = ANONYMOUS
    session: str = "default"
    category: str | None = None
    flags: tuple[str, ...] = ()
    counters: Mapping[str, Decimal] = field(default_factory=dict)


class _NoGuards(Mapping[CounterKey, Guard]):
    """The empty `Decision.guards`: shared and immutable, so a decision that relied on no
    counter costs no new dict (decisions are built on every call)."""

    __slots__ = ()

    def __getitem__(self, key: CounterKey) -> Guard:
        raise KeyError(key)

    def __iter__(self) -> Iterator[CounterKey]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


NO_GUARDS: Mapping[CounterKey, Guard] = _NoGuards()


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """The engine's answer for one call.

    `charges` are the counter increments and rate-limit slots to reserve when the call is
    allowed (all-or-nothing); `guards` are the ranges the counters it read must still be
    in for the decision to stand (see `callgate.policy.engine`), so the store refuses the
    reservation, and the proxy judges again, when another call moved one out of its range.

    Shadow mode: `shadow` is what a rule in shadow mode would have decided (WOULD_DENY,
    WOULD_REQUIRE_APPROVAL) for a call no enforced rule stops; `shadow_charges` are the
    slots of rate limits in shadow mode, reserved with `charges`, but a full one refuses
    nothing: the proxy leaves it out and records WOULD_RATE_LIMIT (unless a rule would
    already have denied the call). A decision without shadow rules has neither.
    """

    verdict: Verdict
    rule: str | None = None
    reason: str = ""
    retry_after: float | None = None
    charges: tuple[Charge, ...] = ()
    guards: Mapping[CounterKey, Guard] = NO_GUARDS
    validate_arguments: bool = False
    approval_timeout: float | None = None
    shadow: Shadow | None = None
    shadow_charges: tuple[Charge, ...] = ()

    def __init__(  # noqa: PLR0917 - positional, one per field, as dataclass writes it
        self,
        verdict: Verdict,
        rule: str | None = None,
        reason: str = "",
        retry_after: float | None = None,
        charges: tuple[Charge, ...] = (),
        guards: Mapping[CounterKey, Guard] = NO_GUARDS,
        validate_arguments: bool = False,
        approval_timeout: float | None = None,
        shadow: Shadow | None = None,
        shadow_charges: tuple[Charge, ...] = (),
        *,
        _set: Callable[[object, str, object], None] = object.__setattr__,
    ) -> None:
        # The dataclass __init__ of a frozen class looks `object.__setattr__` up once per
        # field; a decision is built on every call that is charged or denied, and this
        # keeps the fields shadow mode added from making that slower (tests check that the
        # parameters match the fields).
        _set(self, "verdict", verdict)
        _set(self, "rule", rule)
        _set(self, "reason", reason)
        _set(self, "retry_after", retry_after)
        _set(self, "charges", charges)
        _set(self, "guards", guards)
        _set(self, "validate_arguments", validate_arguments)
        _set(self, "approval_timeout", approval_timeout)
        _set(self, "shadow", shadow)
        _set(self, "shadow_charges", shadow_charges)

    @property
    def allowed(self) -> bool:
        """True when the call may go upstream now."""
        return self.verdict is Verdict.ALLOW

    def without_full_shadow_limit(self, charge: Charge, reason: str) -> Decision:
        """This decision once the store found the shadow rate limit `charge` full: the
        charge left out (a refused call is not counted), WOULD_RATE_LIMIT recorded with
        `reason` unless a shadow rule would already have denied the call."""
        shadow = self.shadow
        if shadow is None or shadow.verdict is ShadowVerdict.WOULD_REQUIRE_APPROVAL:
            shadow = Shadow(ShadowVerdict.WOULD_RATE_LIMIT, charge.rule, reason)
        kept = tuple(c for c in self.shadow_charges if c != charge)
        return replace(self, shadow=shadow, shadow_charges=kept)

    @property
    def shadowed(self) -> Shadow | None:
        """What the log shows instead of ALLOW: `shadow`, for a call that goes through
        although a rule in shadow mode would have stopped it; None for any other."""
        return self.shadow if self.verdict is Verdict.ALLOW else None
