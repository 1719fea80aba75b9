"""Evidence for a tool's category, read from its name, description, schema and annotations.

Each reader returns `Evidence`: a category, the reason in words, where it came from and
how strong it is. `callgate.classifier.verdict` weighs it. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from callgate.classifier.classification import Category, D, F, R, W, X
from callgate.classifier.effects import Context, Effect, effect_of, money_object, query_effect
from callgate.classifier.lexicon import (
    AUTO_PAY_PHRASE,
    BODY_PROPERTIES,
    CODE_PROPERTIES,
    CURRENCY_PROPERTIES,
    DEPLOYS_PHRASE,
    DESTINATION_PROPERTIES,
    FORCE_PROPERTIES,
    GENERIC_API_PHRASE,
    HTTP_METHOD,
    HTTP_METHODS,
    IRREVERSIBLE_PHRASE,
    MAYBE_CODE_PROPERTIES,
    MESSAGE_OBJECTS,
    MONEY_PHRASE,
    MONEY_PROPERTIES,
    NETWORK_PROPERTIES,
    NOTIFIES_PHRASE,
    OPERATION_PROPERTIES,
    PREVIEW_PHRASE,
    READ_AGENT_NOUNS,
    READ_NOUNS,
    RECIPIENT_PROPERTIES,
    RUN_NOUNS,
    RUNS_CODE_PHRASE,
    SEND_OPTION_PROPERTIES,
    SENDS_PHRASE,
    STATEMENT_PROPERTIES,
    VERBS,
    VerbKind,
    words,
)
from callgate.classifier.reading import Action, Property, ToolText, primary_verb
from callgate.classifier.tokens import split_name


class Source(StrEnum):
    """Where a piece of evidence was read."""

    NAME = "name"
    DESCRIPTION = "description"
    PHRASE = "phrase"
    SCHEMA = "schema"
    ANNOTATION = "annotation"


class Strength(StrEnum):
    """How a piece of evidence may move the category."""

    PRIMARY = "primary"
    """The tool's own verb: sets the category unless stronger evidence overrides it."""
    RAISES = "raises"
    """May raise the category above the primary reading (a phrase, a schema property)."""
    BOUNDS = "bounds"
    """Says the tool only reads: may lower a write or query reading to read."""
    SUPPORTS = "supports"
    """Confirms or contradicts, never decides (annotations, a confirming description)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason to believe a category."""

    category: Category
    reason: str
    source: Source
    strength: Strength
    rule: int | None = None
    weak: bool = False
    """A name reading that the description may correct (a verb that is often a noun)."""
    overrides_read: bool = False
    """May raise a read verb too (an operation enum with `delete`, a save path)."""
    may_be_noun: bool = False
    """The name's verb is often a noun: a description that only reads corrects it."""
    runs_code: bool = False
    """What it says runs code, commands, queries or jobs."""
    raises_writes_only: bool = False
    """Raises a write and nothing else (a `force` flag makes a write destructive; on a
    tool that runs or drives something it changes nothing about what the call does)."""

    @property
    def cited(self) -> str:
        """The reason with its taxonomy rule, when one applies."""
        return f"{self.reason} (rule {self.rule})" if self.rule is not None else self.reason


def _from_effect(
    effect: Effect,
    said: str,
    source: Source,
    strength: Strength,
    *,
    weak: bool = False,
    may_be_noun: bool = False,
) -> Evidence:
    return Evidence(
        effect.category,
        f"{said}: {effect.meaning}",
        source,
        strength,
        effect.rule,
        weak,
        may_be_noun=may_be_noun,
        runs_code=effect.runs_code,
    )


def read_name(text: ToolText) -> list[Evidence]:
    """The name's verb (and verbs joined by and/or) done to the name's objects."""
    found: list[Evidence] = []
    action = text.name_action
    context = text.context
    tokens = text.name_tokens
    if (
        tokens
        and tokens[-1] in READ_AGENT_NOUNS
        and (action is None or text.name_verb_is_weak or action.kind is VerbKind.MONEY)
    ):
        return [
            Evidence(
                R,
                f"the name ends in '{tokens[-1]}': a tool that looks or computes",
                Source.NAME,
                Strength.PRIMARY,
                6,
            )
        ]
    if action is not None:
        effect = effect_of(action.verb, action.objects, context, action.order)
        if effect is None:
            effect = _generic(action, context)
        if effect is not None:
            found.append(
                _from_effect(
                    effect,
                    _said("name", action),
                    Source.NAME,
                    Strength.PRIMARY,
                    weak=text.name_verb_is_weak,
                    may_be_noun=text.name_verb_may_be_noun,
                )
            )
        for joined in text.joined_actions:
            also = effect_of(joined.verb, joined.objects, context, joined.order)
            if also is not None:
                found.append(
                    _from_effect(also, _said("name", joined), Source.NAME, Strength.PRIMARY)
                )
    if not found:
        found.extend(_noun_reading(text.name_tokens, "name", Source.NAME))
    return found


def _said(where: str, action: Action) -> str:
    objects = sorted(action.objects)[:4]
    shown = f" + '{' '.join(objects)}'" if objects else ""
    return f"{where} verb '{action.verb}'{shown}"


def _generic(action: Action, context: Context) -> Effect | None:
    """A generic verb (`manage`, `process`) takes its meaning from its object."""
    money = money_object(action.objects, context, action.order)
    if money is not None and money != "order":
        return Effect(F, f"'{action.verb}' a '{money}' moves money")
    if not action.objects.isdisjoint(MESSAGE_OBJECTS) and action.verb in ("make", "do"):
        return Effect(X, "delivers a message", 4)
    if context.drives and action.verb in ("handle", "interact", "control", "use", "perform"):
        return Effect(X, f"'{action.verb}' on a page or device drives it", 7)
    return None


_DRIVE_NOUNS = words("gesture keyboard mouse touch swipe tap pinch longpress scroll click")


@dataclass(frozen=True, slots=True)
class _NounReading:
    """A noun in a name or description's lead that tells the effect without a verb."""

    nouns: frozenset[str]
    category: Category
    says: str
    """The reason after "<where> names '<noun>'"."""
    rule: int | None = None
    weak: bool = False
    runs_code: bool = False


# First match wins, in this order.
_NOUN_READINGS = (
    _NounReading(_DRIVE_NOUNS, X, ": it drives a device or page", rule=7, weak=True),
    _NounReading(RUN_NOUNS, X, ": it runs what it is given", runs_code=True),
    _NounReading(READ_NOUNS, R, ", something that is looked up", weak=True),
)


def _noun_reading(tokens: tuple[str, ...], where: str, source: Source) -> list[Evidence]:
    present = set(tokens)
    for reading in _NOUN_READINGS:
        found = sorted(present & reading.nouns)
        if found:
            return [
                Evidence(
                    reading.category,
                    f"{where} names '{found[0]}'{reading.says}",
                    source,
                    Strength.PRIMARY,
                    reading.rule,
                    weak=reading.weak,
                    runs_code=reading.runs_code,
                )
            ]
    return []


def read_description(text: ToolText) -> list[Evidence]:
    """The description's leading verb, its templated operation name, and strong phrases."""
    found: list[Evidence] = []
    if not text.summary:
        return found
    templated = text.templated
    method = HTTP_METHOD.search(text.description[:600])
    if templated is not None:
        operation = split_name(templated.group(1))
        verb = primary_verb(operation)
        if verb is not None:
            objects = frozenset(operation) - {verb[1]}
            effect = effect_of(verb[1], objects, text.context, operation)
            if effect is not None:
                found.append(
                    _from_effect(
                        effect,
                        f"templated description names operation '{templated.group(1)}'",
                        Source.DESCRIPTION,
                        Strength.SUPPORTS,
                    )
                )
    else:
        readings = [
            (effect, action)
            for action in text.description_actions
            if (effect := effect_of(action.verb, action.objects, text.context, action.order))
        ]
        if readings:
            effect, action = max(readings, key=lambda item: item[0].category.rank)
            found.append(
                _from_effect(
                    effect, _said("description", action), Source.DESCRIPTION, Strength.SUPPORTS
                )
            )
        elif not text.description_actions:
            found.extend(_noun_reading(text.lead_tokens[:3], "description", Source.DESCRIPTION))
    if method is not None:
        category = {"GET": R, "HEAD": R, "DELETE": D}.get(method.group(1), W)
        found.append(
            Evidence(
                category,
                f"the description names the HTTP call {method.group(0).strip()}",
                Source.DESCRIPTION,
                Strength.SUPPORTS,
            )
        )
    found.extend(_phrases(text))
    return found


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A phrase that is evidence on its own wherever it stands in the first paragraph."""

    pattern: re.Pattern[str]
    category: Category
    says: str
    strength: Strength
    rule: int | None = None
    overrides_read: bool = False
    runs_code: bool = False
    unless_read_only: bool = False


_PHRASES = (
    _Phrase(IRREVERSIBLE_PHRASE, D, "speaks of irreversible removal", Strength.RAISES),
    _Phrase(
        RUNS_CODE_PHRASE,
        X,
        "says it runs code or commands",
        Strength.RAISES,
        runs_code=True,
        unless_read_only=True,
    ),
    _Phrase(SENDS_PHRASE, X, "says it sends", Strength.RAISES, 4),
    _Phrase(NOTIFIES_PHRASE, X, "says people are sent something", Strength.RAISES, 4),
    _Phrase(DEPLOYS_PHRASE, X, "says it deploys", Strength.RAISES, 5),
    _Phrase(MONEY_PHRASE, F, "says it moves money", Strength.RAISES),
    _Phrase(PREVIEW_PHRASE, R, "speaks of a preview", Strength.SUPPORTS, 6),
    _Phrase(AUTO_PAY_PHRASE, F, "says it pays by itself", Strength.RAISES, overrides_read=True),
    _Phrase(
        GENERIC_API_PHRASE,
        X,
        "offers any API call",
        Strength.RAISES,
        overrides_read=True,
        runs_code=True,
    ),
)


def _phrases(text: ToolText) -> list[Evidence]:
    found: list[Evidence] = []
    read_only = text.read_only
    if read_only is not None:
        said = f"the description says '{read_only.group(0)}'"
        found.append(Evidence(R, said, Source.PHRASE, Strength.BOUNDS))
    for phrase in _PHRASES:
        if phrase.unless_read_only and read_only is not None:
            continue
        match = _affirmed(phrase.pattern, text.summary)
        if match is not None:
            found.append(
                Evidence(
                    phrase.category,
                    f"the description {phrase.says} ('{match.group(0)}')",
                    Source.PHRASE,
                    phrase.strength,
                    phrase.rule,
                    overrides_read=phrase.overrides_read,
                    runs_code=phrase.runs_code,
                )
            )
    found.extend(_listed_operations(text))
    return found


# "No invitation email is sent", "never receive emails": the phrase is denied.
_DENIED = re.compile(r"\b(?:no|not|never|without|nor)\s+(?:[\w-]+\s+){0,2}$")


def _affirmed(pattern: re.Pattern[str], summary: str) -> re.Match[str] | None:
    """The first match of `pattern` in `summary` that the words before it do not deny."""
    for match in pattern.finditer(summary):
        if not _DENIED.search(summary[max(0, match.start() - 40) : match.start()]):
            return match
    return None


_LISTED = re.compile(r"\b([a-z]+(?:\s*/\s*[a-z]+){2,})\b")


def _listed_operations(text: ToolText) -> list[Evidence]:
    """Operations listed with slashes in the first paragraph ("add/drop/modify columns"):
    the most dangerous of them counts, as an operation enum does."""
    if text.read_only is not None:
        return []
    effects: list[tuple[Effect, str]] = []
    for match in _LISTED.finditer(text.summary):
        for word in match.group(1).split("/"):
            verb = word.strip()
            effect = effect_of(verb, text.name_objects, text.context, text.name_tokens)
            if effect is not None:
                effects.append((effect, verb))
    if len(effects) < 2:
        return []
    worst, verb = max(effects, key=lambda item: item[0].category.rank)
    return [
        Evidence(
            worst.category,
            f"the description lists operations, '{verb}' among them: {worst.meaning}",
            Source.PHRASE,
            Strength.RAISES,
            worst.rule,
        )
    ]


def read_schema(text: ToolText) -> list[Evidence]:
    """Operation enums, code and statement parameters, senders, money and force options."""
    found: list[Evidence] = []
    names = text.property_names
    for prop in text.properties:
        if prop.name in OPERATION_PROPERTIES or (prop.name == "command" and prop.enum):
            found.extend(_operations(prop, text))
    code = sorted(
        prop.name
        for prop in text.properties
        if prop.name in CODE_PROPERTIES and not prop.enum and prop.type in ("string", "array", "")
    )
    maybe = sorted(names & MAYBE_CODE_PROPERTIES)
    if maybe and not frozenset(text.summary_tokens).isdisjoint(_RUNS_CODE_WORDS):
        code.extend(maybe)
    if code:
        found.append(
            Evidence(
                X,
                f"takes {_quoted(code)}: it runs what the caller gives it",
                Source.SCHEMA,
                Strength.RAISES,
                runs_code=True,
            )
        )
    statements = sorted(names & STATEMENT_PROPERTIES)
    if statements:
        effect = query_effect(text.context)
        found.append(
            Evidence(
                effect.category,
                f"takes a statement ({_quoted(statements)}): {effect.meaning}",
                Source.SCHEMA,
                Strength.BOUNDS if effect.category is R else Strength.RAISES,
                8,
                runs_code=effect.runs_code,
            )
        )
    removals = sorted(
        prop.name
        for prop in text.properties
        if prop.name in _REMOVALS and prop.type in ("boolean", "array", "")
    )
    if removals:
        found.append(
            Evidence(
                D,
                f"its {_quoted(removals)} option deletes",
                Source.SCHEMA,
                Strength.RAISES,
                overrides_read=True,
            )
        )
    senders = sorted(
        prop.name
        for prop in text.properties
        if prop.name.replace("_", "") in SEND_OPTION_PROPERTIES
    )
    if senders:
        found.append(
            Evidence(
                X,
                f"its {_quoted(senders)} option makes the call send to people",
                Source.SCHEMA,
                Strength.RAISES,
                4,
            )
        )
    destinations = sorted(
        prop.name
        for prop in text.properties
        if prop.name.replace("_", "") in DESTINATION_PROPERTIES
    )
    if destinations:
        found.append(
            Evidence(
                W,
                f"saves its result where {_quoted(destinations)} says: generating "
                "into a file is write",
                Source.SCHEMA,
                Strength.RAISES,
                6,
                overrides_read=True,
            )
        )
    recipients = sorted(names & RECIPIENT_PROPERTIES)
    bodies = sorted(names & BODY_PROPERTIES)
    if recipients and bodies:
        found.append(
            Evidence(
                X,
                f"takes a recipient ({_quoted(recipients)}) and a message "
                f"({_quoted(bodies)}): it delivers",
                Source.SCHEMA,
                Strength.SUPPORTS,
                4,
            )
        )
    money = sorted(names & MONEY_PROPERTIES)
    currency = sorted(names & CURRENCY_PROPERTIES)
    if money and currency and text.name_action is None:
        found.append(
            Evidence(
                F,
                f"takes {_quoted(money + currency)} and no verb says otherwise",
                Source.SCHEMA,
                Strength.RAISES,
            )
        )
    force = sorted(
        prop.name
        for prop in text.properties
        if (prop.name in FORCE_PROPERTIES or prop.name.startswith("truncate"))
        and prop.type in ("boolean", "")
    )
    if force:
        found.append(
            Evidence(
                D,
                f"has {_quoted(force)}: a forced write overwrites irreversibly",
                Source.SCHEMA,
                Strength.RAISES,
                raises_writes_only=True,
            )
        )
    return found


def _operations(prop: Property, text: ToolText) -> list[Evidence]:
    values = prop.enum
    if not values:
        return []
    lowered = {value.lower() for value in values}
    if (
        lowered <= HTTP_METHODS
        and len(lowered) > 1
        and not text.property_names.isdisjoint(NETWORK_PROPERTIES | {"path", "endpoint", "route"})
    ):
        if "delete" in lowered:
            return [
                Evidence(
                    D,
                    f"its `{prop.name}` takes any HTTP method, DELETE included: a "
                    "generic API call that can delete",
                    Source.SCHEMA,
                    Strength.RAISES,
                    overrides_read=True,
                )
            ]
        return [
            Evidence(
                X,
                f"its `{prop.name}` takes any HTTP method: a generic API call",
                Source.SCHEMA,
                Strength.RAISES,
                overrides_read=True,
            )
        ]
    effects: list[tuple[Effect, str]] = []
    for value in values:
        tokens = split_name(value)
        found = primary_verb(tokens)
        if found is None:
            continue
        objects = (frozenset(tokens) - {found[1]}) | frozenset(text.name_tokens)
        order = tuple(t for t in tokens if t != found[1]) + text.name_tokens
        effect = effect_of(found[1], objects, text.context, order)
        if effect is not None:
            effects.append((effect, value))
    if not effects:
        return []
    worst, value = max(effects, key=lambda item: item[0].category.rank)
    others = sorted({v for _, v in effects if v != value})[:5]
    also = f" (also {', '.join(others)})" if others else ""
    return [
        Evidence(
            worst.category,
            f"its `{prop.name}` can be '{value}'{also}: {worst.meaning}",
            Source.SCHEMA,
            Strength.RAISES,
            worst.rule,
            overrides_read=True,
        )
    ]


def read_annotations(text: ToolText) -> list[Evidence]:
    """The server's hints (rule 9): read-only is strong, destructive is weak."""
    hints = text.annotations
    found: list[Evidence] = []
    read_only = hints.get("readOnlyHint")
    destructive = hints.get("destructiveHint")
    if read_only is True:
        found.append(
            Evidence(
                R,
                "the server marks it read-only (readOnlyHint)",
                Source.ANNOTATION,
                Strength.BOUNDS,
                9,
            )
        )
    elif destructive is True:
        found.append(
            Evidence(
                D,
                "the server marks it destructive (destructiveHint)",
                Source.ANNOTATION,
                Strength.SUPPORTS,
                9,
            )
        )
    elif read_only is False:
        found.append(
            Evidence(
                W,
                "the server marks it as changing state (readOnlyHint false)",
                Source.ANNOTATION,
                Strength.SUPPORTS,
                9,
            )
        )
    return found


def network_properties(text: ToolText) -> list[str]:
    """The parameters through which the caller picks an address."""
    return sorted(text.property_names & NETWORK_PROPERTIES)


_RUNS_CODE_WORDS = words(
    """execute executes run runs eval evaluate evaluates javascript python script snippet
    program interpreter"""
)
_REMOVALS = words("delete remove prune purge drop destroy wipe clear truncate delete_all")


def _quoted(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def verb_kind(verb: str) -> VerbKind | None:
    """The kind of a known verb."""
    return VERBS.get(verb)
