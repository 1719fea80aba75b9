"""The risk card of one tool: what a tool risk catalogue page says about it. Pure.

A card puts together what the server said (the definition), what the classifier decided
and why (category, severity, confidence, flags, each with its reasons), the attacks that
exploit this kind of access, and what callgate recommends (a rule as a ready policy
snippet with its test file, and how to switch the tool off). Renderers only lay it out:
every text they show is here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from callgate.catalogue.attacks import Attack, AttackSpec, load_attack_library, select_attacks
from callgate.catalogue.definition import ToolDefinition, read_definition
from callgate.catalogue.recommend import Recommendation, recommend
from callgate.catalogue.yamldoc import dump_yaml
from callgate.classifier import Classification, Flag, Severity, classify_tool
from callgate.classifier.classification import BASE_SEVERITY
from callgate.integrity.poisoning import Finding, scan_servers, scan_tool


@dataclass(frozen=True, slots=True)
class Snippets:
    """The recommendation as YAML texts, each ready to paste or save."""

    policy: str
    tests: str
    hide: str | None
    deny: str

    @classmethod
    def of(cls, recommendation: Recommendation) -> Snippets:
        """Emit every text of a recommendation."""
        hide = dump_yaml({"hide": [recommendation.tool]}) if recommendation.hideable else None
        return cls(
            policy=dump_yaml(recommendation.policy()),
            tests=dump_yaml(recommendation.test_document()),
            hide=hide,
            deny=dump_yaml(recommendation.deny_policy()),
        )


@dataclass(frozen=True, slots=True)
class RiskCard:
    """Everything a tool's risk card shows."""

    tool: ToolDefinition
    classification: Classification
    attacks: tuple[Attack, ...]
    recommendation: Recommendation | None
    snippets: Snippets | None
    findings: tuple[Finding, ...] = ()  # what the poisoning scan found in the definition

    @property
    def name(self) -> str:
        """The tool's name as the server lists it."""
        return self.tool.name

    @property
    def why_category(self) -> str:
        """One sentence on why the tool got its category."""
        return deciding_sentence(self.classification)

    @property
    def other_reasons(self) -> tuple[str, ...]:
        """The rest of the evidence the classifier read."""
        shown = self.classification.decided_by or self.why_category
        return tuple(r for r in self.classification.reasons if r not in (shown, self.why_category))

    @property
    def severity_base(self) -> Severity:
        """The severity the category starts from (the card says when evidence moved it)."""
        return BASE_SEVERITY[self.classification.category]

    @property
    def flags(self) -> tuple[tuple[Flag, str], ...]:
        """Each flag with why it was set (empty text when the classifier gave none)."""
        why = dict(self.classification.flag_reasons)
        return tuple((flag, why.get(flag, "")) for flag in self.classification.flags)

    @property
    def annotations(self) -> tuple[tuple[str, str], ...]:
        """The server's annotations, each value as JSON text (`true`, `"x"`)."""
        return tuple((key, _json_text(value)) for key, value in self.tool.annotations)

    @property
    def risk_key(self) -> tuple[int, int, str]:
        """Sort key: most severe first, then the more dangerous category, then the name."""
        result = self.classification
        return (-result.severity.rank, -result.category.rank, self.name)


def deciding_sentence(result: Classification) -> str:
    """What decided the category, in words, without repeating the category in front."""
    sentence = result.decided_by or (result.reasons[0] if result.reasons else "")
    prefix = f"{result.category.value}: "
    if sentence.startswith(prefix):
        sentence = sentence[len(prefix) :]
    return sentence or "no evidence: the classifier could read nothing decisive"


def build_card(
    tool: Mapping[str, Any],
    library: Sequence[AttackSpec] | None = None,
    findings: Sequence[Finding] | None = None,
) -> RiskCard:
    """Classify one tool definition and build its card (scanned for poisoning unless given)."""
    found = scan_tool(tool) if findings is None else findings
    card = card_for(read_definition(tool), classify_tool(tool), library)
    return replace(card, findings=tuple(found))


def card_for(
    tool: ToolDefinition,
    classification: Classification,
    library: Sequence[AttackSpec] | None = None,
) -> RiskCard:
    """The card of a tool already classified (the library defaults to callgate's own)."""
    attacks = select_attacks(
        load_attack_library() if library is None else library,
        classification.category,
        classification.flags,
    )
    recommendation = recommend(tool, classification)
    snippets = Snippets.of(recommendation) if recommendation is not None else None
    return RiskCard(tool, classification, attacks, recommendation, snippets)


def build_cards(
    tools: Iterable[Mapping[str, Any]], library: Sequence[AttackSpec] | None = None
) -> list[RiskCard]:
    """Cards for a server's tools, riskiest first; a name listed twice counts once, as last.

    The poisoning scan reads the tools together, so look-alike names within the server
    are found too.
    """
    by_name = {str(tool.get("name", "")): tool for tool in tools}
    findings = findings_by_tool(scan_servers({"": list(by_name.values())}))
    cards = [build_card(tool, library, findings.get(name, [])) for name, tool in by_name.items()]
    return sorted(cards, key=lambda card: card.risk_key)


def findings_by_tool(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings grouped by the tool they are about, most severe first within a tool."""
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.tool, []).append(finding)
    for members in grouped.values():
        members.sort(key=lambda finding: -finding.severity.rank)
    return grouped


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)
