"""The libyaml loader gives exactly ruamel's data and positions, only faster."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.errors import IssueCode, PolicyError
from callgate.policy import fastyaml
from callgate.policy.loader import parse_yaml_ruamel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.skipif(not fastyaml.AVAILABLE, reason="libyaml is not installed")


def both(text: str) -> tuple[Any, Any]:
    reference, reference_positions = parse_yaml_ruamel(text, "f")
    fast, fast_positions = fastyaml.parse(text, "f")
    assert fast_positions == dict(reference_positions.positions)
    return reference, fast


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_examples_parse_identically(path: Path) -> None:
    reference, fast = both(path.read_text())
    assert same(reference, fast)


@pytest.mark.parametrize(
    "text",
    [
        "a: yes\nb: no\nc: on\nd: off\ne: y\n",  # YAML 1.2: strings, not booleans
        "a: 1_000\nb: 0o17\nc: 0x1F\nd: 017\ne: +1\nf: -0\n",
        "a: 1e3\nb: .inf\nc: -.inf\nd: .nan\ne: 0.\nf: 1.50\n",
        "a: ~\nb: null\nc:\nd: Null\ne: 'null'\n",
        "a: True\nb: FALSE\nc: 'true'\n",
        "a: 2026-01-01\nb: '2026-01-01'\nc: 12:30\n",
        "a: |\n  two\n  lines\nb: >\n  folded\n  text\n",
        "a: \"esc\\t\\u00e9\"\nb: 'it''s'\nc: café\n",
        "base: &b {x: 1, y: 2}\nlist: [*b, *b]\n",
        "- {name: a, rules: []}\n- name: b\n  rules:\n    - {n: 1}\n",
        '# comment\nversion: "1"  # trailing\ntools: {}\n',
        "b: <<x\n",
        "",
    ],
)
def test_tricky_documents_parse_identically(text: str) -> None:
    reference, fast = both(text)
    assert same(reference, fast)


def test_explicit_tags_give_plain_values() -> None:
    # ruamel's round-trip loader keeps these as TaggedScalar objects; plain values are what
    # the policy models accept.
    data, _ = fastyaml.parse("a: !!str 5\nb: !!int '7'\nc: =\nd: !custom x\n", "f")
    assert data == {"a": "5", "b": 7, "c": "=", "d": "x"}


def test_merge_keys_merge_and_explicit_keys_win() -> None:
    # ruamel places merged keys inconsistently (sometimes not at all); here a merged key
    # is placed where it is written, in the merged mapping.
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n"
    data, positions = fastyaml.parse(text, "f")
    assert data["other"] == {"x": 1, "y": 3}
    assert positions[("other", "x")] == (1, 11)
    assert positions[("other", "y")] == (4, 3)
    reference, _ = parse_yaml_ruamel(text, "f")
    assert same(reference, data)


def test_duplicate_key_is_refused_at_its_position() -> None:
    with pytest.raises(PolicyError) as caught:
        fastyaml.parse("a: 1\nb:\n  c: 1\n  c: 2\n", "f")
    (issue,) = caught.value.issues
    assert (issue.code, issue.line, issue.column) == (IssueCode.DUPLICATE_KEY, 4, 3)


def test_syntax_error_has_the_same_line_as_ruamel() -> None:
    text = 'version: "1"\ntools: [1\nhide: 2\n'
    with pytest.raises(PolicyError) as fast:
        fastyaml.parse(text, "f")
    with pytest.raises(PolicyError) as reference:
        parse_yaml_ruamel(text, "f")
    assert fast.value.issues[0].code == IssueCode.YAML_SYNTAX
    assert fast.value.issues[0].line == reference.value.issues[0].line


SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
# libyaml counts NEL, LS and PS as line breaks in marks (YAML 1.1), ruamel does not
# (YAML 1.2): the data agrees, only the line numbers after such a character would differ.
# Lone surrogates (Cs) are not text either parser accepts.
text = st.text(
    st.characters(blacklist_characters="\x85\u2028\u2029", blacklist_categories=SURROGATES),
    max_size=12,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_any_dumped_document_parses_identically(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    reference, fast = both(text)
    assert same(reference, fast)
