"""Classifying one MCP tool definition: read every signal, let the most dangerous win.

The name's verb is the main reading (`delete_file` deletes); objects in the name
(`invoice`), strong phrases in the description ("permanently deletes"), input-schema
properties (`command`, `currency`) and the server's annotations (`destructiveHint`) add
evidence. Every signal that counted becomes a reason, and agreement or disagreement
between signals sets the confidence score.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callgate.classifier.classification import (
    BASE_SEVERITY,
    Category,
    Classification,
    Confidence,
    Severity,
)
from callgate.classifier.tokens import split_name, split_prose
from callgate.classifier.vocabulary import (
    CODE_PROPERTIES,
    COMPOUND_READINGS,
    CURRENCY_PROPERTIES,
    DESCRIPTION_PHRASES,
    FINANCIAL_OBJECTS,
    FORCE_PROPERTIES,
    GENERIC_VERBS,
    MONEY_PROPERTIES,
    MONEY_TOPIC,
    NETWORK_PROPERTIES,
    PATH_PROPERTIES,
    PAYMENT_PLATFORMS,
    READ_ONLY_PHRASE,
    STATEMENT_PROPERTIES,
    VERBS,
)

_BASE_SCORE = 0.3
_NAME_VERB = 0.4
_COMPOUND = 0.25
_CONFIRMED = 0.25
_DECIDED_BY_DESCRIPTION = 0.2
_SUPPORT = 0.15
_SCHEMA_SUPPORT = 0.1
_EMPTY_DESCRIPTION = -0.2
_CONFLICT = -0.15
_ANNOTATION_CONFLICT = -0.2
_UNKNOWN_VERB = -0.1

# How many leading words of a description may precede its verb ("Use this tool to list").
_LEADING_WINDOW = 6
_SUMMARY_CHARS = 400
_CONJUNCTIONS = frozenset({"and", "or"})


@dataclass(frozen=True, slots=True)
class _Signal:
    """One piece of evidence for a category; `decisive` signals may set the category."""

    category: Category
    reason: str
    source: str
    decisive: bool = True


@dataclass(slots=True)
class _Reading:
    """Everything read from one tool before the verdict."""

    signals: list[_Signal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name_verb: Category | None = None
    description_verb: Category | None = None
    compound: bool = False
    score: float = _BASE_SCORE
    severity_raises: list[str] = field(default_factory=list)
    critical_if_execute: list[str] = field(default_factory=list)
    open_world: list[str] = field(default_factory=list)


def classify_tool(tool: Mapping[str, Any]) -> Classification:
    """Classify one MCP tool definition (`name`, `description`, `inputSchema`, `annotations`)."""
    name = _text(tool.get("name"))
    description = _text(tool.get("description")).strip()
    reading = _Reading()
    _read_name(name, reading)
    _read_description(description, reading)
    _read_schema(tool.get("inputSchema"), reading)
    _read_annotations(tool.get("annotations"), reading)
    return _judge(name, reading)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _first_verb(
    tokens: tuple[str, ...], window: int, *, skip_generic: bool = False
) -> tuple[int, str] | None:
    for index, token in enumerate(tokens[:window]):
        if token in VERBS or (token in GENERIC_VERBS and not skip_generic):
            return index, token
    return None


def _read_name(name: str, reading: _Reading) -> None:
    tokens = split_name(name)
    found = _first_verb(tokens, len(tokens))
    if found is not None:
        index, verb = found
        rest = tokens[index + 1 :]
        compound = next(
            (COMPOUND_READINGS[(verb, obj)] for obj in rest if (verb, obj) in COMPOUND_READINGS),
            None,
        )
        if compound is not None:
            category, reason = compound
            reading.signals.append(_Signal(category, f"name '{name}' reads as {reason}", "name"))
            reading.name_verb = category
            reading.compound = True
        elif verb in GENERIC_VERBS:
            reading.notes.append(f"name verb '{verb}' is generic; the object decides")
        else:
            reading.name_verb = VERBS[verb]
            reading.signals.append(
                _Signal(VERBS[verb], f"name verb '{verb}' means {VERBS[verb].value}", "name")
            )
        # `create_or_update_file`, `get_and_delete`: every joined verb counts.
        for before, after in itertools.pairwise(rest):
            if before in _CONJUNCTIONS and after in VERBS and VERBS[after] != reading.name_verb:
                reading.signals.append(
                    _Signal(VERBS[after], f"name verb '{after}' means {VERBS[after].value}", "name")
                )
    verb_index = found[0] if found is not None else -1
    for index, token in enumerate(tokens):
        # `git_checkout` checks out a branch; `create_checkout_session` is about money.
        if token in FINANCIAL_OBJECTS and index != verb_index:
            reading.signals.append(
                _Signal(Category.FINANCIAL, f"name object '{token}' is about money", "object")
            )
            break
        if token in PAYMENT_PLATFORMS:
            reading.signals.append(
                _Signal(
                    Category.FINANCIAL,
                    f"name mentions the payment platform '{token}'",
                    "object",
                )
            )
            break


def _read_description(description: str, reading: _Reading) -> None:
    if not description:
        reading.score += _EMPTY_DESCRIPTION
        reading.notes.append("description is empty: only the name could be read")
        return
    summary = _summary(description)
    # The verb sits among the first words, its object within a few words after it.
    tokens = split_prose(summary, limit=3 * _LEADING_WINDOW)
    # "Manage and view executions": a generic verb says nothing, the next verb does.
    found = _first_verb(tokens, _LEADING_WINDOW, skip_generic=True)
    if found is not None:
        index, verb = found
        category, meaning = VERBS[verb], f"means {VERBS[verb].value}"
        compound = next(
            (
                COMPOUND_READINGS[(verb, obj)]
                for obj in tokens[index + 1 : index + _LEADING_WINDOW]
                if (verb, obj) in COMPOUND_READINGS
            ),
            None,
        )
        if compound is not None:
            category, meaning = compound[0], f"reads as {compound[1]}"
        reading.description_verb = category
        if reading.name_verb is None:
            reading.signals.append(
                _Signal(category, f"description verb '{verb}' {meaning}", "description")
            )
    read_only = READ_ONLY_PHRASE.search(summary) is not None
    for pattern, category, reason in DESCRIPTION_PHRASES:
        # "Execute arbitrary Cypher queries in read mode": the claim bounds what runs.
        if category is Category.EXECUTE and read_only:
            continue
        if pattern.search(summary):
            reading.signals.append(_Signal(category, reason, "phrase"))
    if reading.name_verb is None and MONEY_TOPIC.search(summary):
        reading.signals.append(
            _Signal(Category.FINANCIAL, "the description speaks of money", "phrase")
        )
    if read_only:
        reading.signals.append(
            _Signal(Category.READ, "the description says it is read-only", "claim", decisive=False)
        )


def _summary(description: str) -> str:
    """The description's first paragraph, lower-cased: what the tool does, before the
    argument docs and examples that mention all sorts of incidental words."""
    first = description.split("\n\n", 1)[0]
    return first[:_SUMMARY_CHARS].lower()


def _property_names(schema: object) -> frozenset[str]:
    if not isinstance(schema, Mapping):
        return frozenset()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return frozenset()
    return frozenset(str(key).lower() for key in properties)


def _read_schema(schema: object, reading: _Reading) -> None:
    names = _property_names(schema)
    if not names:
        return
    code = sorted(names & CODE_PROPERTIES)
    if code:
        reading.signals.append(
            _Signal(
                Category.EXECUTE,
                f"takes {_quoted(code)}: it runs what the caller gives it",
                "schema",
            )
        )
        reading.critical_if_execute.append(f"arbitrary code or commands via {_quoted(code)}")
    statements = sorted(names & STATEMENT_PROPERTIES)
    if statements:
        reads_only = reading.name_verb is Category.READ or any(
            signal.source == "claim" for signal in reading.signals
        )
        reading.signals.append(
            _Signal(
                Category.READ if reads_only else Category.EXECUTE,
                f"takes a database statement ({_quoted(statements)})",
                "schema",
                decisive=not reads_only,
            )
        )
    currency = sorted(names & CURRENCY_PROPERTIES)
    money = sorted(names & MONEY_PROPERTIES)
    if currency:
        reading.signals.append(
            _Signal(
                Category.FINANCIAL,
                f"takes {_quoted(money + currency)}: it moves or prices money",
                "schema",
            )
        )
    elif money:
        reading.notes.append(f"takes {_quoted(money)}")
    force = sorted(names & FORCE_PROPERTIES)
    if force:
        reading.severity_raises.append(f"has {_quoted(force)} options")
    network = sorted(names & NETWORK_PROPERTIES)
    if network:
        reading.open_world.append(f"reaches any address given in {_quoted(network)}")
    paths = sorted(names & PATH_PROPERTIES)
    if paths:
        reading.notes.append(f"acts on file-system paths ({_quoted(paths)})")


def _quoted(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _read_annotations(annotations: object, reading: _Reading) -> None:
    if not isinstance(annotations, Mapping):
        return
    read_only = annotations.get("readOnlyHint")
    destructive = annotations.get("destructiveHint")
    if read_only is True:
        reading.signals.append(
            _Signal(
                Category.READ,
                "the server marks it read-only (readOnlyHint)",
                "annotation",
                decisive=False,
            )
        )
    elif destructive is True:
        reading.signals.append(
            _Signal(
                Category.DESTRUCTIVE,
                "the server marks it destructive (destructiveHint): it may overwrite or delete",
                "annotation",
            )
        )
    elif read_only is False and destructive is False:
        reading.signals.append(
            _Signal(
                Category.WRITE,
                "the server marks it as changing state, additively (readOnlyHint and "
                "destructiveHint false)",
                "annotation",
                decisive=False,
            )
        )
    if annotations.get("openWorldHint") is True:
        reading.open_world.append("the server marks it as reaching outside systems (openWorldHint)")
    if annotations.get("idempotentHint") is True and read_only is not True:
        reading.notes.append(
            "the server marks it idempotent: repeating a call changes nothing more"
        )


def _choose(reading: _Reading) -> tuple[Category, list[str]]:
    """The most dangerous decisive category, and how it was reached."""
    decisive = [signal for signal in reading.signals if signal.decisive]
    if decisive:
        return max((signal.category for signal in decisive), key=lambda c: c.rank), []
    if any(signal.category is Category.READ for signal in reading.signals):
        return Category.READ, []
    return Category.WRITE, ["nothing says it only reads: assumed to change something (write)"]


def _judge(name: str, reading: _Reading) -> Classification:
    category, fallback = _choose(reading)
    reasons: list[str] = []
    score = reading.score
    for signal in reading.signals:
        reasons.append(signal.reason)
        agrees = _agrees(signal, category)
        if signal.source == "name" and agrees:
            score += _COMPOUND if reading.compound else _NAME_VERB
        elif signal.source == "description" and agrees:
            score += _DECIDED_BY_DESCRIPTION
        elif signal.source == "annotation" and not agrees:
            score += _ANNOTATION_CONFLICT
        elif signal.source == "schema" and agrees:
            score += _SCHEMA_SUPPORT
        elif agrees:
            score += _SUPPORT
    losers = sorted(
        {s.category for s in reading.signals if not _agrees(s, category)},
        key=lambda c: c.rank,
    )
    if losers:
        score += _CONFLICT
        named = ", ".join(c.value for c in losers)
        if max(losers, key=lambda c: c.rank).rank < category.rank:
            reasons.append(
                f"signals also point to {named}; the more dangerous {category.value} wins"
            )
        else:
            reasons.append(f"conflicting signals ({named}); {category.value} was kept")
    if reading.name_verb is None and reading.description_verb is None:
        score += _UNKNOWN_VERB
        reasons.append("no known verb in the name or description")
    elif reading.name_verb is not None and reading.description_verb is not None:
        if reading.description_verb in (reading.name_verb, category):
            score += _CONFIRMED
            reasons.append("the description confirms the name's reading")
        else:
            score += _CONFLICT
            reasons.append(
                f"the description's verb suggests {reading.description_verb.value}, "
                f"the name's {reading.name_verb.value}"
            )
    reasons.extend(fallback)
    reasons.extend(reading.notes)
    severity = _severity(category, reading, reasons)
    score = round(min(1.0, max(0.0, score)), 2)
    return Classification(
        name=name,
        category=category,
        severity=severity,
        confidence=Confidence.from_score(score),
        score=score,
        reasons=tuple(reasons),
    )


def _agrees(signal: _Signal, category: Category) -> bool:
    """Whether a signal supports the chosen category.

    A read or write verb fits a money object (reading or creating an invoice), and a
    server's "changes state, additively" hint fits any category that changes something
    without destroying it, so it supports write, execute and financial alike.
    """
    if signal.category is category:
        return True
    if (
        category is Category.FINANCIAL
        and signal.source in ("name", "description")
        and signal.category in (Category.READ, Category.WRITE)
    ):
        return True
    additive = (Category.WRITE, Category.EXECUTE, Category.FINANCIAL)
    return (
        signal.source == "annotation" and signal.category is Category.WRITE and category in additive
    )


def _severity(category: Category, reading: _Reading, reasons: list[str]) -> Severity:
    severity = BASE_SEVERITY[category]
    if category is Category.EXECUTE and reading.critical_if_execute:
        severity = Severity.CRITICAL
        reasons.append(f"severity critical: {'; '.join(reading.critical_if_execute)}")
    if reading.severity_raises and category in (Category.WRITE, Category.EXECUTE):
        severity = severity.raised()
        reasons.append(f"severity raised: {'; '.join(reading.severity_raises)}")
    if reading.open_world:
        if category is Category.READ:
            severity = severity.raised()
            reasons.append(f"severity raised: {'; '.join(reading.open_world)}")
        else:
            reasons.extend(reading.open_world)
    return severity
