"""The policy file as pydantic models: what `load_policy` validates and `callgate schema` exports.

A superset of PolicyLayer Intercept's format: every Intercept file validates unchanged.
Models check one node at a time (types, allowed values, keys that exclude each other);
checks across the file (counter references, patterns, regexes, condition operators) are
the compiler's job, so that both report with positions through the loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from callgate.classifier.classification import Category, Flag
from callgate.state.counters import Scope

JsonDict = dict[str, Any]
WINDOW_SECONDS: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
_COUNTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class Action(StrEnum):
    """What a rule does: check conditions, deny outright, or ask a person."""

    EVALUATE = "evaluate"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


class Mode(StrEnum):
    """Whether a rule's decision stops the call (`enforce`) or is only recorded (`shadow`)."""

    ENFORCE = "enforce"
    SHADOW = "shadow"


def _known_mode(value: object) -> object:
    """Refuse anything but enforce or shadow, saying what each means."""
    if value not in ("enforce", "shadow"):
        raise ValueError(
            f"must be enforce or shadow, got {value!r} (enforce: the rule stops the "
            "call; shadow: its decision is recorded as would_deny, would_rate_limit or "
            "would_require_approval and the call goes through)"
        )
    return value


ModeValue = Annotated[Mode, BeforeValidator(_known_mode)]


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `"90"`, `"30s"`, `"10m"`, `"2h"`, `"1d"`."""
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic reports only ValueError as a validation error.
        raise ValueError("expected a duration such as 600, '30s', '10m' or '2h'")  # noqa: TRY004
    if isinstance(value, int | float | Decimal):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as 600, '30s', '10m' or '2h', got {value!r}")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be a positive number of seconds, got {value!r}")
    return seconds


def _parse_window(value: object) -> int:
    """Window seconds from `minute|hour|day|second` or a positive whole number of seconds."""
    if isinstance(value, str) and value in WINDOW_SECONDS:
        return WINDOW_SECONDS[value]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(
        f"window must be minute, hour, day or a positive whole number of seconds, got {value!r}"
    )


# The JSON Schema says what a file may contain (e.g. "10m"), not the parsed float.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _DURATION.pattern},
            ],
            "description": "Seconds, or a number with a unit: 30s, 10m, 2h, 1d.",
        }
    ),
]
WindowSeconds = Annotated[
    int,
    BeforeValidator(_parse_window),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"enum": list(WINDOW_SECONDS)},
            ],
            "description": "Seconds, or second/minute/hour/day.",
        }
    ),
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConditionSpec(_Spec):
    """A leaf `{path, op, value}` or a group `{any: [...]}`, `{all: [...]}`, `{not: {...}}`."""

    path: str | None = Field(None, description="`args.<field>`, `state.<scope>.<counter>`, ...")
    op: str | None = Field(None, description="An operator, e.g. eq, in, lte, regex, glob.")
    value: Any = Field(None, description="The value the operator compares with.")
    any_: list[ConditionSpec] | None = Field(
        None, alias="any", description="True when at least one holds."
    )
    all_: list[ConditionSpec] | None = Field(
        None, alias="all", description="True when every one holds."
    )
    not_: ConditionSpec | None = Field(
        None, alias="not", description="True when the condition does not hold."
    )

    @model_validator(mode="after")
    def _one_form(self) -> ConditionSpec:
        groups = [g for g in ("any", "all", "not") if getattr(self, f"{g}_") is not None]
        leaf = self.path is not None or self.op is not None
        if len(groups) > 1 or (groups and leaf):
            raise ValueError(
                "a condition is either {path, op, value} or one of any/all/not, not several"
            )
        if not groups:
            if self.path is None:
                raise ValueError("a condition needs `path` (or one of any/all/not)")
            if self.op is None:
                raise ValueError("a condition needs `op`")
        return self

    @property
    def has_value(self) -> bool:
        """True when the file gave `value` (so `value: null` differs from no value)."""
        return "value" in self.model_fields_set


class StateSpec(_Spec):
    """An Intercept counter: summed over a calendar window, read as `state.<tool>.<counter>`."""

    counter: str = Field(description="Counter name, read as `state.<tool>.<counter>`.")
    window: Literal["minute", "hour", "day"] = Field(description="UTC calendar window.")
    increment: Decimal = Field(Decimal(1), description="Fixed amount added per allowed call.")
    increment_from: str | None = Field(
        None, description="`args.<field>` whose value is added instead of `increment`."
    )
    scope: Scope = Field(Scope.GLOBAL, description="Whose calls share the counter.")

    @field_validator("counter")
    @classmethod
    def _counter_name(cls, value: str) -> str:
        if not _COUNTER_NAME.match(value):
            raise ValueError(
                f"counter must be a name of letters, digits, '_' or '-', got {value!r}"
            )
        return value

    @field_validator("increment", mode="before")
    @classmethod
    def _increment(cls, value: object) -> object:
        # Intercept treats 0 as "not given" and uses 1.
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise ValueError(f"increment must be a number, got {value!r}")  # noqa: TRY004
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"increment must be a number, got {value!r}") from None
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"increment must be a finite number >= 0, got {value!r}")
        return Decimal(1) if amount == 0 else amount

    @field_validator("increment_from")
    @classmethod
    def _increment_from(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("args."):
            raise ValueError(f"increment_from must start with 'args.', got {value!r}")
        return value


class RateLimitSpec(_Spec):
    """`{max: 10, window: 60, scope: session}`: at most `max` calls in any sliding window."""

    max: int = Field(gt=0, description="Most calls allowed in the window.")
    window: WindowSeconds = Field(description="Seconds, or minute/hour/day.")
    scope: Scope = Field(Scope.SESSION, description="Whose calls share the limit.")


def _also(alternative: JsonDict) -> Callable[[JsonDict], None]:
    """A json_schema_extra hook adding one more accepted form to a field's `anyOf`."""

    def extend(schema: JsonDict) -> None:
        options = schema.get("anyOf")
        if isinstance(options, list):
            options.insert(0, alternative)

    return extend


def _parse_rate_limit(value: object) -> object:
    """Turn Intercept's `"N/window"` shorthand into the long form."""
    if not isinstance(value, str):
        return value
    match = _RATE.match(value)
    if match is None or match.group(2) not in WINDOW_SECONDS:
        raise ValueError(
            f'rate_limit must look like "N/minute", "N/hour" or "N/day", got {value!r}'
        )
    count = int(match.group(1))
    if count <= 0:
        raise ValueError(f"rate_limit count must be a positive integer, got {value!r}")
    return {"max": count, "window": match.group(2)}


class RuleSpec(_Spec):
    """One rule; the first rule that fails decides the call."""

    name: str = Field(min_length=1, description="Shown in denials and the audit log.")
    action: Action = Field(Action.EVALUATE, description="evaluate, deny or require_approval.")
    conditions: list[ConditionSpec] = Field(
        default_factory=list, description="ANDed; for evaluate: what must hold to allow."
    )
    on_deny: str | None = Field(None, description="The message the agent sees when denied.")
    reason: str | None = Field(None, description="Alias of on_deny.")
    rate_limit: Annotated[RateLimitSpec, BeforeValidator(_parse_rate_limit)] | None = Field(
        None,
        description='"N/minute|hour|day" or {max, window, scope}.',
        json_schema_extra=_also({"type": "string", "pattern": _RATE.pattern}),
    )
    state: StateSpec | None = Field(None, description="A counter this rule charges.")
    approval_timeout: Duration | None = Field(
        None, description="Seconds (or '10m') an approval may take; require_approval only."
    )
    mode: ModeValue | None = Field(
        None,
        description="shadow: the rule's decision is recorded (would_deny, would_rate_limit, "
        "would_require_approval) but does not stop the call; enforce: it does. Default: the "
        "policy's mode.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> RuleSpec:
        problems: list[str] = []
        if self.on_deny is not None and self.reason is not None:
            problems.append("give either on_deny or reason (its alias), not both")
        if self.rate_limit is not None:
            if self.conditions or self.state is not None:
                problems.append(
                    "rate_limit cannot be combined with conditions or state; "
                    "use separate rules or the full syntax instead"
                )
            if self.action is not Action.EVALUATE:
                problems.append(f"rate_limit cannot be used with action {self.action.value!r}")
        elif self.action is Action.DENY and self.conditions:
            problems.append("deny rules must not have conditions")
        elif self.action is Action.EVALUATE and not self.conditions:
            problems.append("evaluate rules must have at least one condition")
        if self.approval_timeout is not None and self.action is not Action.REQUIRE_APPROVAL:
            problems.append("approval_timeout only applies to action require_approval")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def message(self) -> str | None:
        """The author's denial text (on_deny or reason)."""
        return self.on_deny if self.on_deny is not None else self.reason


def _known_injection_action(value: object) -> object:
    """Refuse anything but flag, wrap or withhold, saying what each does."""
    if value not in ("flag", "wrap", "withhold"):
        raise ValueError(
            f"must be flag, wrap or withhold, got {value!r} (flag: only recorded in the "
            "audit log; wrap: the text is marked as untrusted data; withhold: the agent gets "
            "a notice instead of the result)"
        )
    return value


class ResultsSpec(_Spec):
    """The result guard (`results:`): what a call's result may show the model.

    On a tool, category or flag entry, or at the top level as the default; each field is
    taken from the most specific entry that sets it, then from the top level.
    """

    redact_secrets: bool | None = Field(
        None,
        description="Replace secrets in the result (private keys, cloud keys, tokens, JWTs, "
        "passwords in connection strings) with [REDACTED:<kind>] before the agent sees it.",
    )
    flag_injection: bool | None = Field(
        None,
        description="Look for instructions aimed at the model in the result and record them "
        "in the audit log; on_injection says what else happens.",
    )
    on_injection: (
        Annotated[Literal["flag", "wrap", "withhold"], BeforeValidator(_known_injection_action)]
        | None
    ) = Field(
        None,
        description="flag: only recorded (the default); wrap: the text is delimited as "
        "untrusted data; withhold: the agent gets a notice instead of the result.",
    )


def _entries_may_be_empty(schema: JsonDict) -> None:
    # `read_file:` with nothing under it is valid YAML for an entry with no rules.
    entry = schema.get("additionalProperties")
    if isinstance(entry, dict):
        schema["additionalProperties"] = {"anyOf": [entry, {"type": "null"}]}


def _none_as_empty(value: object) -> object:
    # `read_file:` with nothing under it is an entry with no rules (yaml null).
    return {} if value is None else value


class ToolSpec(_Spec):
    """A tool entry (exact name, `delete_*` pattern or `"*"`)."""

    rules: list[RuleSpec] = Field(default_factory=list)
    category: Category | None = Field(None, description="Overrides the classifier's category.")
    flags: list[Flag] | None = Field(
        None, description="Overrides the classifier's flags ([] says the tool has none)."
    )
    validate_arguments: bool | None = Field(
        None, description="Check arguments against the tool's input schema."
    )
    results: ResultsSpec | None = Field(
        None, description="The result guard for this tool's results."
    )

    @field_validator("flags")
    @classmethod
    def _unique_flags(cls, value: list[Flag] | None) -> list[Flag] | None:
        if value is not None and len(set(value)) != len(value):
            repeated = sorted({flag.value for flag in value if value.count(flag) > 1})
            raise ValueError(f"flags: {', '.join(repeated)} given more than once")
        return value


class CategorySpec(_Spec):
    """Rules for every tool of a risk category."""

    rules: list[RuleSpec] = Field(default_factory=list)
    validate_arguments: bool | None = None
    results: ResultsSpec | None = Field(
        None, description="The result guard for the results of these tools."
    )


class FlagSpec(CategorySpec):
    """Rules for every tool that touches what a risk flag names (money, credentials, ...)."""


class WebhookSpec(_Spec):
    """Where new approval requests are announced (HMAC-SHA256 signed JSON)."""

    url: str
    secret_env: str | None = Field(None, description="Environment variable with the HMAC key.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {value!r}")
        return value


Approver = Literal["client", "operator"]
_ALL_APPROVERS: tuple[Approver, ...] = ("client", "operator")


class ApprovalsSpec(_Spec):
    """Defaults for require_approval rules."""

    mode: Literal["wait", "retry"] = Field("wait", description="Hold the call, or answer at once.")
    timeout: Duration = Field(600.0, description="Seconds until an unanswered request is denied.")
    approvers: list[Approver] = Field(default_factory=lambda: list(_ALL_APPROVERS), min_length=1)
    webhook: WebhookSpec | None = None


class AuditSpec(_Spec):
    """What the audit log keeps of each call's arguments."""

    arguments: Literal["hash", "redacted", "full"] = Field(
        "redacted",
        description="hash: only a keyed hash of the arguments; redacted: the arguments with "
        "secrets replaced (by key name and by value shape); full: the arguments as sent.",
    )
    redact_keys: list[str] = Field(
        default_factory=list,
        description="More key names whose values are always redacted, matched word by word "
        "like the built-in ones (password, token, secret, api_key, authorization, ...).",
    )

    @field_validator("arguments", mode="before")
    @classmethod
    def _known_mode(cls, value: object) -> object:
        if value not in ("hash", "redacted", "full"):
            raise ValueError(
                f"must be hash, redacted or full, got {value!r} (hash keeps "
                "only a keyed hash, redacted keeps the arguments without secrets, full keeps "
                "them as sent)"
            )
        return value

    @field_validator("redact_keys")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if not any(char.isalnum() for char in name):
                raise ValueError(
                    f"redact_keys[{index}]: {name!r} names no key (use words such as ssn or "
                    "card_number)"
                )
        return value


IntegrityAction = Literal["hide", "deny", "require_approval", "warn"]


class IntegritySpec(_Spec):
    """Tool pinning: listed definitions checked against a lock file (`callgate pin`)."""

    lock: str = Field(
        "callgate.lock", description="The lock file `callgate pin` wrote (relative: to the policy)."
    )
    on_change: IntegrityAction = Field(
        "deny",
        description="A tool whose listed definition differs from its pin: hide it, deny its "
        "calls, ask a person (the diff shown), or only warn.",
    )
    on_new_tool: IntegrityAction | None = Field(
        None, description="A listed tool the lock does not pin (default: as on_change)."
    )
    scan_descriptions: Literal["hide", "warn"] | None = Field(
        None,
        description="Scan each listed definition for poisoning (hidden instructions, invisible "
        "characters): hide a tool with findings, or only warn.",
    )

    @property
    def new_tool_action(self) -> str:
        """What happens to a tool the lock does not pin."""
        return self.on_new_tool or self.on_change


class AgentSpec(_Spec):
    """An agent identity for the HTTP listener; its token as a SHA-256 hash or an env var."""

    name: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    token_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    token_env: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_token(self) -> AgentSpec:
        if (self.token_sha256 is None) == (self.token_env is None):
            raise ValueError("an agent needs exactly one of token_sha256 or token_env")
        return self


class PolicySpec(_Spec):
    """A whole policy file (`version: "1"`)."""

    version: Annotated[
        Literal["1"], WithJsonSchema({"enum": ["1", 1], "description": 'Must be "1".'})
    ]
    description: str = ""
    default: Literal["allow", "deny"] = Field("allow", description="For tools with no entry.")
    hide: list[str] = Field(default_factory=list, description='Tool names or patterns; "*" all.')
    tools: dict[str, Annotated[ToolSpec, BeforeValidator(_none_as_empty)]] = Field(
        default_factory=dict,
        description='Entries by exact tool name, pattern (delete_*) or "*".',
        json_schema_extra=_entries_may_be_empty,
    )
    categories: dict[Category, CategorySpec] = Field(default_factory=dict)
    flags: dict[Flag, FlagSpec] = Field(
        default_factory=dict,
        description="Entries for risk flags: every tool the flag applies to gets their rules.",
    )
    annotate_tools: bool = Field(
        False,
        description="Add each listed tool's risk classification to its _meta (callgate/risk).",
    )
    approvals: ApprovalsSpec = Field(default_factory=ApprovalsSpec)  # type: ignore[arg-type]
    agents: list[AgentSpec] = Field(default_factory=list)
    fail_mode: Literal["closed", "open"] = Field(
        "closed", description="What happens when the state store is unreachable."
    )
    audit: AuditSpec = Field(default_factory=AuditSpec)  # type: ignore[arg-type]
    results: ResultsSpec | None = Field(
        None,
        description="The result guard's default for every tool (entries may override it "
        "field by field).",
    )
    integrity: IntegritySpec | None = Field(
        None,
        description="Pin tool definitions: a changed or new tool is hidden, denied, "
        "held for approval or warned about.",
    )
    mode: ModeValue = Field(
        Mode.ENFORCE,
        description="shadow: every rule (and default: deny) whose own mode is not enforce "
        "only records what it would have decided; the calls go through.",
    )
    # The loader's SourceMap (positions of keys), so the compiler can place its errors too.
    _source: Any = PrivateAttr(None)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # `version: 1` (a YAML int) is what people write; Intercept's Go loader accepts it too.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("hide")
    @classmethod
    def _hide_entries(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for index, name in enumerate(value):
            if not name.strip():
                raise ValueError(f"hide[{index}]: entry must not be empty")
            if name in seen:
                raise ValueError(f"hide: duplicate entry {name!r}")
            seen.add(name)
        return value

    @field_validator("agents")
    @classmethod
    def _unique_agents(cls, value: list[AgentSpec]) -> list[AgentSpec]:
        names = [agent.name for agent in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate agent names: {', '.join(duplicates)}")
        return value


def export_json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy format, generated from the models."""
    schema = PolicySpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "callgate policy"
    return schema
