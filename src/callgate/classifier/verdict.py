"""Weighing the evidence: the category, how sure it is, and how severe. Pure.

1. The **primary** reading is the name's verb done to its objects; without one, the
   description's leading verb; without that, the schema's operations, then the hints.
2. A description that says more than a plain write verb (`create_message`: "Send a
   message") refines it to execute or financial.
3. **Raising** evidence (a phrase such as "permanently deletes", an operation enum with
   `delete`, a `command` parameter, a statement parameter that can write) lifts the
   category: the more dangerous wins. It does not lift a read verb, except a tool whose
   operations include a dangerous one.
4. **Bounding** evidence (readOnlyHint, "read-only", a read-only query) lowers a plain
   write or query reading to read; it never lowers a send, a run, a delete or money.
5. Without any reading, a tool is assumed to change something (write), with low
   confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callgate.classifier.classification import (
    BASE_SEVERITY,
    Category,
    Confidence,
    D,
    F,
    Flag,
    R,
    Severity,
    W,
    X,
)
from callgate.classifier.evidence import Evidence, Source, Strength

BASE_SCORE = 0.3
NAME_VERB = 0.4
DESCRIPTION_ONLY = 0.25
SCHEMA_ONLY = 0.15
CONFIRMED = 0.25
SUPPORT = 0.1
EMPTY_DESCRIPTION = -0.2
TEMPLATED = -0.1
CONFLICT = -0.15
OVERRULED = -0.25
HINT_DISAGREES = -0.3
HINT_DISAGREES_CAP = 0.6
FALLBACK_CAP = 0.35
NAME_ONLY_CAP = 0.45


@dataclass(slots=True)
class Verdict:
    """The category chosen, the evidence that decided it, the score and its doubts."""

    category: Category
    decided_by: Evidence | None
    score: float
    doubts: list[str] = field(default_factory=list)


def _worst(evidence: list[Evidence]) -> Evidence | None:
    return max(evidence, key=lambda e: e.category.rank, default=None)


def _of(evidence: list[Evidence], strength: Strength) -> list[Evidence]:
    return [e for e in evidence if e.strength is strength]


def choose(evidence: list[Evidence], *, described: bool, templated: bool) -> Verdict:
    """Weigh every piece of evidence into a verdict (see the module docstring)."""
    doubts: list[str] = []
    decided, score = _primary(evidence, doubts)
    decided = _refined(decided, evidence, doubts)
    decided, overruled = _raised(decided, _of(evidence, Strength.RAISES))
    decided = _bounded(decided, _of(evidence, Strength.BOUNDS), doubts)
    if decided is None:
        hinted = _worst(
            [
                e
                for e in _of(evidence, Strength.SUPPORTS)
                if e.source in (Source.ANNOTATION, Source.SCHEMA)
            ]
        )
        if hinted is not None:
            decided = hinted
            score += SCHEMA_ONLY
    if decided is None:
        doubts.append("nothing says it only reads: assumed to change something (write)")
        fallback = score + (0 if described else EMPTY_DESCRIPTION)
        return Verdict(W, None, round(min(FALLBACK_CAP, fallback), 2), doubts)
    category = decided.category
    score = _adjust(
        score,
        category=category,
        decided=decided,
        evidence=evidence,
        doubts=doubts,
        overruled=overruled,
    )
    if not described:
        # Only the name could be read: never more than low confidence (the seed case).
        score = min(score + EMPTY_DESCRIPTION, NAME_ONLY_CAP)
        doubts.append("the description is empty: only the name could be read")
    elif templated:
        score += TEMPLATED
        doubts.append("the description is a template that only names the operation (rule 10)")
    return Verdict(category, decided, round(min(1.0, max(0.0, score)), 2), doubts)


def _primary(evidence: list[Evidence], doubts: list[str]) -> tuple[Evidence | None, float]:
    """1. The name's reading; without one, the description's."""
    primary = _worst(_of(evidence, Strength.PRIMARY))
    if primary is not None:
        return primary, BASE_SCORE + NAME_VERB
    described = _worst([e for e in evidence if e.source is Source.DESCRIPTION])
    if described is not None:
        doubts.append("the name has no known verb: the description decided")
        return described, BASE_SCORE + DESCRIPTION_ONLY
    doubts.append("no known verb in the name or the description")
    return None, BASE_SCORE


def _refined(
    decided: Evidence | None, evidence: list[Evidence], doubts: list[str]
) -> Evidence | None:
    """2. The description corrects a noun-like name verb and refines a plain write."""
    described = [e for e in evidence if e.source is Source.DESCRIPTION]
    told = _worst(described)
    if decided is None or told is None:
        return decided
    if told.category is not decided.category and (
        decided.weak or (told.category is R and decided.may_be_noun)
    ):
        # `pipelines_build`, `credits`: a verb that is often a noun.
        doubts.append(f"{decided.reason.split(':')[0]} may be a noun: the description decided")
        return told
    if decided.source is Source.NAME and decided.category is W:
        # `create_message`: "Send a message to ..." says more than the name.
        refined = _worst([e for e in described if e.category in (X, F)])
        if refined is not None:
            return refined
    return decided


def _raised(
    decided: Evidence | None, raises: list[Evidence]
) -> tuple[Evidence | None, list[Evidence]]:
    """3. Raising evidence lifts the category; a read verb only by what overrides reads."""
    overruled: list[Evidence] = []
    for item in raises:
        current = decided.category if decided is not None else None
        if current is not None and item.category.rank <= current.rank:
            continue
        if item.raises_writes_only and current is not W:
            continue
        if current is R and not item.overrides_read:
            overruled.append(item)
            continue
        decided = item
    return decided, overruled


def _bounded(
    decided: Evidence | None, bounds: list[Evidence], doubts: list[str]
) -> Evidence | None:
    """4. A read-only claim lowers a plain write or a query reading to read."""
    if not bounds:
        return decided
    if decided is None:
        return bounds[0]
    if decided.category is not R and _boundable(decided):
        doubts.append(f"{decided.cited}, but {bounds[0].reason}: read wins")
        return bounds[0]
    return decided


def _boundable(decided: Evidence) -> bool:
    """A plain write or a query reading: what a read-only claim may lower to read."""
    if decided.category is W and decided.source in (Source.NAME, Source.DESCRIPTION):
        return decided.rule is None or decided.rule in (6,)
    return decided.rule == 8 and decided.category is X


def _adjust(
    score: float,
    *,
    category: Category,
    decided: Evidence,
    evidence: list[Evidence],
    doubts: list[str],
    overruled: list[Evidence],
) -> float:
    ceiling = 1.0
    described = [e for e in evidence if e.source is Source.DESCRIPTION and e is not decided]
    if described:
        if any(_agrees(e.category, category) for e in described):
            score += CONFIRMED
        else:
            score += CONFLICT
            doubts.append(
                f"the description reads as {described[0].category.value} ({described[0].reason})"
            )
    support = 0.0
    for item in evidence:
        if item is decided or item.source is Source.DESCRIPTION:
            continue
        if _agrees(item.category, category):
            support += SUPPORT
        elif item.source is Source.ANNOTATION and item.strength is Strength.BOUNDS:
            # The server says read-only and the effect is not: never more than medium.
            score += HINT_DISAGREES
            ceiling = HINT_DISAGREES_CAP
            doubts.append(f"{item.reason}, yet the effect is {category.value}")
        elif item.category.rank > category.rank and item.strength is not Strength.SUPPORTS:
            pass  # counted below as overruled
        elif item.source is Source.ANNOTATION and item.category is D and category is W:
            doubts.append(f"{item.reason}: an update that can be undone stays write (rule 9)")
        elif item.category.rank < category.rank and item.strength is Strength.PRIMARY:
            score += CONFLICT
            doubts.append(f"{item.reason}; the more dangerous {category.value} wins")
    score = min(score + min(support, 2 * SUPPORT), ceiling)
    for item in overruled:
        score += OVERRULED
        doubts.append(f"{item.reason}, while the name says it reads")
    return score


def _agrees(signal: Category, chosen: Category) -> bool:
    if signal is chosen:
        return True
    # Both dangerous "moves money and destroys" readings agree (rule 12).
    return {signal, chosen} == {D, F}


def confidence_of(score: float) -> Confidence:
    """The confidence for a score."""
    return Confidence.from_score(score)


def severity_of(
    category: Category, flags: frozenset[Flag], idempotent: bool
) -> tuple[Severity, list[str]]:
    """The severity from the category, moved by what the tool touches and its scope."""
    severity = BASE_SEVERITY[category]
    why: list[str] = []
    raisers = [
        flag
        for flag in (Flag.BULK, Flag.CREDENTIALS, Flag.CODE_EXECUTION)
        if flag in flags and category is not R
    ]
    if raisers:
        severity = severity.raised()
        why.append(f"raised: touches {', '.join(flag.value for flag in raisers)}")
    if category is R:
        sensitive = [
            flag
            for flag in (Flag.CREDENTIALS, Flag.PERSONAL_DATA, Flag.OPEN_WORLD)
            if flag in flags
        ]
        if sensitive:
            severity = Severity.MEDIUM
            why.append(f"a read of {', '.join(f.value for f in sensitive)} is at least medium")
    elif idempotent and not raisers and category is W and not flags & _SENSITIVE:
        severity = severity.lowered()
        why.append("lowered: the server marks it idempotent and it touches nothing sensitive")
    return severity, why


_SENSITIVE = frozenset(
    {Flag.MONEY, Flag.CREDENTIALS, Flag.PERSONAL_DATA, Flag.INFRASTRUCTURE, Flag.EXTERNAL_COMMS}
)
