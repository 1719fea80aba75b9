"""A tool definition, read once into the words the classifier works with. Pure.

Everything is defensive: a tool is untrusted input, so a missing name, a description that
is not a string, a 1 MB description or a schema that is not an object all read as "less
to go on", never as an error.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callgate.classifier.effects import Context
from callgate.classifier.lazy import lazy_property
from callgate.classifier.lexicon import (
    DML_PHRASE,
    LEAD_IN,
    NON_MESSAGE_HEADS,
    NOUN_LIKE_VERBS,
    READ_ONLY_PHRASE,
    TEMPLATED_PHRASE,
    VERBS,
    VerbKind,
    words,
)
from callgate.classifier.tokens import plural_words, singular, split_name, split_prose

# The description's first paragraph says what the tool does; argument docs and examples
# further down mention all sorts of words. Only this many characters of it are read.
SUMMARY_CHARS = 480
# A sentence about the call that finds nothing to do, not about what the tool does.
_IDEMPOTENT_CASE = re.compile(r"\b(?:idempotent|already|existing|if|when|unless)\b")
# How many leading words of the description may come before its verb.
VERB_WINDOW = 5
# How many words after a verb are its objects.
OBJECT_WINDOW = 7

_CONJUNCTIONS = frozenset({"and", "or", "then"})
# Verbs that are never nouns: right after a name's verb they add an action
# (`insert_execute_cell` inserts and runs).
_RUNS = frozenset({"execute", "exec", "eval", "invoke"})
_STOPWORDS = words(
    """a an the to of in on for from by with into at as via per and or then api mcp tool
    this that these those it its your you my our all any new one some given specified
    specific existing current multiple single using use"""
)


@dataclass(frozen=True, slots=True)
class Action:
    """A verb and the words it acts on, as read from the name or the description."""

    verb: str
    objects: frozenset[str]
    order: tuple[str, ...] = ()
    """The words around the verb in their order, the verb left out."""

    @property
    def kind(self) -> VerbKind:
        """The verb's kind (read, write, run, send, ...)."""
        return VERBS[self.verb]


@dataclass(frozen=True, slots=True)
class Property:
    """One top-level input-schema property: its name (lower case) and its schema."""

    name: str
    schema: Mapping[str, Any]

    @property
    def enum(self) -> tuple[str, ...]:
        """The allowed string values (`enum`, `const` or `oneOf`/`anyOf` consts), if any."""
        values: list[object] = []
        enum = self.schema.get("enum")
        if isinstance(enum, list):
            values.extend(enum)
        if "const" in self.schema:
            values.append(self.schema["const"])
        for key in ("oneOf", "anyOf"):
            options = self.schema.get(key)
            if isinstance(options, list):
                values.extend(o.get("const") for o in options if isinstance(o, Mapping))
        items = self.schema.get("items")
        if isinstance(items, Mapping) and isinstance(items.get("enum"), list):
            values.extend(items["enum"])
        return tuple(str(value) for value in values if isinstance(value, str))

    @property
    def type(self) -> str:
        """The JSON type named by the schema ('' when none or several)."""
        value = self.schema.get("type")
        return value if isinstance(value, str) else ""

    @property
    def description(self) -> str:
        """The property's own description, lower case ('' when none)."""
        value = self.schema.get("description")
        return value.lower()[:SUMMARY_CHARS] if isinstance(value, str) else ""


class ToolText:
    """The parts of one tool definition the classifier reads, tokenised once."""

    def __init__(self, tool: Mapping[str, Any]) -> None:
        name = tool.get("name")
        description = tool.get("description")
        self.name = name if isinstance(name, str) else ""
        self.description = description.strip() if isinstance(description, str) else ""
        self.name_tokens = split_name(self.name[:SUMMARY_CHARS])
        self.properties = _properties(tool.get("inputSchema"))
        annotations = tool.get("annotations")
        self.annotations: Mapping[str, Any] = (
            annotations if isinstance(annotations, Mapping) else {}
        )
        self.schema_is_object = isinstance(tool.get("inputSchema"), Mapping)

    @lazy_property
    def summary(self) -> str:
        """The description's first paragraph, lower case, at most SUMMARY_CHARS long."""
        first = self.description[: SUMMARY_CHARS * 2].split("\n\n", 1)[0]
        return " ".join(first[:SUMMARY_CHARS].lower().split())

    @lazy_property
    def read_only(self) -> re.Match[str] | None:
        """Where the description says the tool only reads ("read-only"), if it does.

        Not where the sentence explains an idempotent case ("adding an existing tag returns
        the list without modifying the ticket"): that is about a call that changes nothing
        to change, not about the tool.
        """
        summary = self.summary
        for found in READ_ONLY_PHRASE.finditer(summary):
            sentence = summary[summary.rfind(". ", 0, found.start()) + 1 : found.start()]
            if not _IDEMPOTENT_CASE.search(sentence):
                return found
        return None

    @lazy_property
    def templated(self) -> re.Match[str] | None:
        """A generated description that only names its operation (rule 10), if it is one."""
        return TEMPLATED_PHRASE.match(self.summary)

    @lazy_property
    def lead(self) -> str:
        """The summary without its lead-in ("Use this tool to ...")."""
        return LEAD_IN.sub("", self.summary, count=1)

    @lazy_property
    def summary_tokens(self) -> tuple[str, ...]:
        """The words of the summary."""
        return split_prose(self.summary)

    @lazy_property
    def lead_tokens(self) -> tuple[str, ...]:
        """The words of the first sentence without its lead-in."""
        sentence = self.lead.split(". ", 1)[0]
        return split_prose(sentence, limit=VERB_WINDOW + OBJECT_WINDOW + 4)

    @lazy_property
    def property_names(self) -> frozenset[str]:
        """The top-level input-schema property names, lower case."""
        return frozenset(prop.name for prop in self.properties)

    @lazy_property
    def context(self) -> Context:
        """Every word of the name, the summary and the parameter names."""
        words = set(self.name_tokens) | set(self.summary_tokens)
        for prop in self.property_names:
            words.update(split_name(prop))
        read_only = self.read_only is not None
        dml = (
            DML_PHRASE.search(self.summary) is not None or DML_PHRASE.search(self.name) is not None
        )
        lead = set(self.name_tokens) | set(self.lead_tokens)
        return Context(words, read_only=read_only, dml=dml, lead=lead)

    @lazy_property
    def name_objects(self) -> frozenset[str]:
        """The name's words that are not its verb or filler."""
        verb = self.name_action.verb if self.name_action else None
        return frozenset(t for t in self.name_tokens if t != verb and t not in _STOPWORDS)

    @lazy_property
    def name_action(self) -> Action | None:
        """The name's verb and objects, or None when the name has no known verb."""
        found = primary_verb(self.name_tokens, plural_words(self.name))
        if found is None:
            return None
        index, verb = found
        order = tuple(t for i, t in enumerate(self.name_tokens) if i != index)
        return Action(verb, frozenset(order) - _STOPWORDS, order)

    @lazy_property
    def name_verb_is_weak(self) -> bool:
        """The name's verb is often a noun and stands alone (`pipelines_build`, `credits`)."""
        action = self.name_action
        if action is None or action.verb not in NOUN_LIKE_VERBS or action.kind is VerbKind.DRIVE:
            return False
        return self.name_tokens.index(action.verb) > 0 or len(self.name_tokens) == 1

    @lazy_property
    def name_verb_may_be_noun(self) -> bool:
        """The name's verb is often a noun (`invoice_units`): a reading description wins."""
        action = self.name_action
        return action is not None and action.verb in NOUN_LIKE_VERBS

    @lazy_property
    def joined_actions(self) -> tuple[Action, ...]:
        """Further verbs joined to the name's by and/or (`create_or_update_file`)."""
        if self.name_action is None:
            return ()
        objects = self.name_action.objects
        joined = [
            Action(after, objects - {after}, self.name_action.order)
            for before, after in itertools.pairwise(self.name_tokens)
            if (before in _CONJUNCTIONS or (before == self.name_action.verb and after in _RUNS))
            and after in VERBS
            and after != self.name_action.verb
        ]
        return tuple(joined)

    @lazy_property
    def description_action(self) -> Action | None:
        """The description's leading verb and the words after it."""
        actions = self.description_actions
        return actions[0] if actions else None

    def _verb_run(self, first: str) -> list[str]:
        sentence = self.lead.split(". ", 1)[0]
        words = [singular(w) for w in _RUN_TOKEN.findall(sentence)]
        return _verbs_after(words, first)

    @lazy_property
    def description_actions(self) -> tuple[Action, ...]:
        """The description's leading verbs: one, or a run of them ("List, create and
        delete clusters"), each with the words after the run."""
        tokens = self.lead_tokens
        for index, token in enumerate(tokens[:VERB_WINDOW]):
            kind = VERBS.get(token)
            if kind is None or kind is VerbKind.GENERIC:
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if token in NOUN_LIKE_VERBS and following in NON_MESSAGE_HEADS:
                continue  # "Report email metrics": `email` names the metrics
            run = [token, *self._verb_run(token)]
            end = index + 1
            while end < len(tokens) and (tokens[end] in run or tokens[end] in _CONJUNCTIONS):
                end += 1
            after = tokens[end : end + OBJECT_WINDOW]
            # What the verbs act on comes first; the name's words follow. `from` stays:
            # "remove a tag from an issue" detaches.
            order = tuple(t for t in after if t not in _STOPWORDS or t == "from")
            objects = (frozenset(order) | self.name_objects) - set(run)
            return tuple(Action(verb, objects, order) for verb in dict.fromkeys(run))
        return ()


_RUN_TOKEN = re.compile(r"[a-z][a-z0-9]*|,|&|/")
_SEPARATORS = frozenset({",", "&", "/", "and", "or"})


def _verbs_after(words: list[str], first: str) -> list[str]:
    """The verbs that follow `first` in a list ("list, create and delete"): each after a
    comma, `and`, `or`, `&` or `/`; a verb without one is a noun ("retrieve build data")."""
    try:
        index = words.index(first) + 1
    except ValueError:
        return []
    found: list[str] = []
    while index < len(words) and words[index] in _SEPARATORS:
        while index < len(words) and words[index] in _SEPARATORS:
            index += 1
        if index >= len(words):
            break
        word = singular(words[index])
        if VERBS.get(word) in (None, VerbKind.GENERIC):
            break
        found.append(word)
        index += 1
    return found


def primary_verb(
    tokens: tuple[str, ...], plurals: frozenset[str] = frozenset()
) -> tuple[int, str] | None:
    """The index and word of a name's verb.

    The first known verb, except that a verb that is often a noun (`run`, `build`,
    `refund`) gives way to a later verb that is not (`get_run`, `refund_create`), and a
    noun-like verb written in the plural (`console_messages`, `orders`) is a noun.
    """
    found = [
        (index, token)
        for index, token in enumerate(tokens)
        if token in VERBS and token not in plurals and (index == 0 or tokens[index - 1] != "by")
    ]
    if not found:
        return None
    first = found[0]
    if first[1] in NOUN_LIKE_VERBS or VERBS[first[1]] is VerbKind.GENERIC:
        for index, token in found[1:]:
            if token in NOUN_LIKE_VERBS or VERBS[token] is VerbKind.GENERIC:
                continue
            # A name that starts with its verb keeps it (`run_task_sync_get`) unless the
            # later verb ends the name (`refund_get`, `run_list`).
            if first[0] > 0 or index == len(tokens) - 1 or VERBS[first[1]] is VerbKind.GENERIC:
                return index, token
    return first


def _properties(schema: object) -> tuple[Property, ...]:
    if not isinstance(schema, Mapping):
        return ()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    return tuple(
        Property(str(key).lower(), value if isinstance(value, Mapping) else {})
        for key, value in properties.items()
    )
