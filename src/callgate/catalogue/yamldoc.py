"""YAML text for generated policies, written by ruamel.yaml's emitter, never by hand.

Tool names are whatever a server sends (`yes`, `null`, `*`, `a: b`, unicode, newlines);
only a real emitter quotes each of them so that loading the text gives the name back.
Plain dicts and lists become round-trip nodes, so mappings print in block style and
callers (the scan) can attach comments to them.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

WIDTH = 100


def yaml_round_trip() -> YAML:
    """The round-trip YAML object every generated file is loaded and written with."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True  # a re-scan keeps the quotes the file has
    yaml.width = WIDTH
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


# The version string as people write it in policies: `version: "1"`.
POLICY_VERSION = DoubleQuotedScalarString("1")
# Mappings written on one line in policies: a rule's rate limit and counter.
_FLOW_KEYS = frozenset({"rate_limit", "state"})


def to_node(value: Any, key: object = None) -> Any:
    """Plain dicts and lists as round-trip nodes, recursively, in the style of the docs.

    Mappings and lists print in block style, except a condition leaf
    (`{path: args.amount, op: lte, value: 500}`), a rule's `rate_limit` and `state`, and a
    list of plain values (`[usd, eur]`), which print on one line. Round-trip nodes are
    kept as they are, with their comments and styles.
    """
    if isinstance(value, CommentedMap | CommentedSeq):
        return value
    if isinstance(value, dict):
        node = CommentedMap()
        for name, item in value.items():
            node[name] = to_node(item, name)
        if ("op" in value or key in _FLOW_KEYS) and all(map(_is_flat, value.values())):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq(to_node(item) for item in value)
        if value and all(map(_is_scalar, value)):
            seq.fa.set_flow_style()
        return seq
    return value


def _is_scalar(value: object) -> bool:
    return not isinstance(value, dict | list | tuple)


def _is_flat(value: object) -> bool:
    return _is_scalar(value) or (isinstance(value, list | tuple) and all(map(_is_scalar, value)))


def dump_yaml(document: Any) -> str:
    """The YAML text of a document (plain data or round-trip nodes)."""
    out = io.StringIO()
    yaml_round_trip().dump(to_node(document), out)
    return out.getvalue()
