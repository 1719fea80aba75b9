"""Tool risk catalogue: a risk card per tool, the attack library, recommended rules.

- `definition`: what the server says about a tool (summary, parameters, annotations);
- `attacks` + `attacks.yaml`: how agents abuse each kind of access, chosen by category
  and flags;
- `recommend`: the recommended policy entry for a tool, its test cases and how to switch
  it off (also what `callgate scan` writes);
- `yamldoc`: YAML text through ruamel's emitter, so any tool name round-trips;
- `card`: all of the above for one tool;
- `terminal`, `pages`, `site`: cards laid out for a terminal (rich), as HTML and Markdown
  pages (jinja2), and as a static site (`callgate catalog`).

Everything but loading the library, the templates and writing the site is pure.
"""

from __future__ import annotations

from callgate.catalogue.attacks import Attack, load_attack_library, select_attacks
from callgate.catalogue.card import RiskCard, build_card, build_cards, card_for
from callgate.catalogue.definition import Parameter, ToolDefinition, read_definition
from callgate.catalogue.recommend import Recommendation, recommend

__all__ = [
    "Attack",
    "Parameter",
    "Recommendation",
    "RiskCard",
    "ToolDefinition",
    "build_card",
    "build_cards",
    "card_for",
    "load_attack_library",
    "read_definition",
    "recommend",
    "select_attacks",
]
