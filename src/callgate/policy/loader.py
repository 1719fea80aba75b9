"""Text → validated `PolicySpec`, with every error placed at file:line:column.

ruamel.yaml keeps the position of each key and list item; pydantic validates the plain
data; each pydantic error is mapped back to the position of the key it concerns, with a
"did you mean" hint for unknown keys. Duplicate keys and YAML syntax errors are reported
with their position too. Nothing stops at the first error: `PolicyError.issues` has them all.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from callgate.errors import IssueCode, PolicyError, PolicyIssue
from callgate.policy import fastyaml, schema
from callgate.policy.schema import PolicySpec
from callgate.policy.source import Loc, SourceMap, render_loc, suggest

_MAX_POLICY_BYTES = 16 * 1024 * 1024


def _field_names(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


# Every key the format knows, for "did you mean" hints on unknown keys.
_VOCABULARY: frozenset[str] = frozenset().union(
    *(
        _field_names(model)
        for model in (
            schema.PolicySpec,
            schema.ToolSpec,
            schema.RuleSpec,
            schema.ConditionSpec,
            schema.StateSpec,
            schema.RateLimitSpec,
            schema.CategorySpec,
            schema.ApprovalsSpec,
            schema.AgentSpec,
            schema.WebhookSpec,
        )
    )
)


def load_policy(source: str | Path) -> PolicySpec:
    """Load and validate a policy from a file path or from YAML text.

    A `Path`, or a one-line string naming an existing file or ending in `.yaml`/`.yml`,
    is read as a file; any other string is the policy text itself.
    Raises `PolicyError` with every issue found.
    """
    with paused_gc():
        data, positions = read_policy(source)
        return validate_policy_data(data, positions)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while a policy is built.

    Loading allocates many long-lived objects and no garbage cycles; every collection would
    walk them all again, which made loading and compiling a 5,000-tool policy 3-4x slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_policy(source: str | Path) -> tuple[Any, SourceMap]:
    """The plain data of a policy file (or text) and its positions, not yet validated."""
    if isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        try:
            raw = path.read_bytes()[: _MAX_POLICY_BYTES + 1]
        except OSError as exc:
            raise PolicyError(
                [PolicyIssue(IssueCode.UNREADABLE_FILE, exc.strerror or str(exc), file=str(path))]
            ) from exc
        if len(raw) > _MAX_POLICY_BYTES:
            raise PolicyError(
                [PolicyIssue(IssueCode.UNREADABLE_FILE, "policy file is over 16 MiB", str(path))]
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [PolicyIssue(IssueCode.UNREADABLE_FILE, f"not UTF-8 text: {exc}", str(path))]
            ) from exc
        return parse_yaml(text, file=str(path))
    return parse_yaml(source)


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    return text.endswith((".yaml", ".yml")) or Path(text).is_file()


def load_policy_text(text: str, file: str = "<policy>") -> PolicySpec:
    """Validate policy YAML text; `file` names it in error positions."""
    with paused_gc():
        data, source = parse_yaml(text, file)
        return validate_policy_data(data, source)


def parse_yaml(text: str, file: str = "<policy>") -> tuple[Any, SourceMap]:
    """YAML text → plain data and the positions of its keys; raises `PolicyError` on bad YAML.

    Uses libyaml when it is installed (`callgate.policy.fastyaml`, same data, ~15x faster),
    else ruamel.yaml's round-trip loader.
    """
    if fastyaml.AVAILABLE:
        data, found = fastyaml.parse(text, file)
        return data, SourceMap(file, found)
    return parse_yaml_ruamel(text, file)


def parse_yaml_ruamel(text: str, file: str = "<policy>") -> tuple[Any, SourceMap]:
    """`parse_yaml` with ruamel.yaml's pure-Python round-trip loader (the reference)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except DuplicateKeyError as exc:
        raise PolicyError([_yaml_issue(exc, file, IssueCode.DUPLICATE_KEY)]) from exc
    except MarkedYAMLError as exc:
        raise PolicyError([_yaml_issue(exc, file, IssueCode.YAML_SYNTAX)]) from exc
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad characters)
        raise PolicyError([PolicyIssue(IssueCode.YAML_SYNTAX, str(exc), file, 1, 1)]) from exc
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    data = _plain(document, (), positions)
    return data, SourceMap(file, positions)


def validate_policy_data(data: Any, source: SourceMap) -> PolicySpec:
    """Plain data → `PolicySpec`; raises `PolicyError` with every issue placed by `source`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(
            [
                source.issue(
                    IssueCode.INVALID_VALUE,
                    (),
                    f"a policy must be a mapping of keys, got {type(data).__name__}",
                    'start with `version: "1"`',
                )
            ]
        )
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(validation_issues(exc, data, source, _VOCABULARY)) from exc
    spec._source = source
    return spec


def source_of(spec: PolicySpec) -> SourceMap:
    """The positions `spec` was loaded from (an empty map for specs built in code)."""
    found = spec._source
    return found if isinstance(found, SourceMap) else SourceMap()


def _yaml_issue(exc: MarkedYAMLError, file: str, code: str) -> PolicyIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = ", ".join(part for part in (exc.problem, exc.context) if part)
    message = message.split("\n")[0] if message else "invalid YAML"
    hint = (
        "each key may appear once in a mapping"
        if code == IssueCode.DUPLICATE_KEY
        else "check indentation, quotes and brackets around here"
    )
    return PolicyIssue(code, message, file, line, column, hint=hint)


def _plain(node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    """ruamel's round-trip nodes → dict/list/str/int/float/bool/None, recording positions."""
    if isinstance(node, CommentedMap):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            plain_key = _scalar(key)
            try:
                line, column = node.lc.key(key)
            except KeyError:  # merged in by `<<`: it has no position in this mapping
                pass
            else:
                positions[(*loc, plain_key)] = (line + 1, column + 1)
            result[plain_key] = _plain(value, (*loc, plain_key), positions)
        return result
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            positions[(*loc, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*loc, index), positions))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    # ruamel subclasses int/float/str to keep formatting; the engine wants plain values.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def data_loc(loc: tuple[int | str, ...], data: Any) -> tuple[Loc, Any]:
    """Keep the loc segments that name real keys/items (drop pydantic's validator tags).

    Returns the kept loc and the node it reaches.
    """
    kept: list[str | int] = []
    node = data
    for part in loc:
        found, child = _child(node, part)
        if found:
            node = child
        elif isinstance(node, dict) and len(kept) == len(loc) - 1:
            kept.append(part)  # a missing or unknown key: keep it to name it
            break
        else:
            continue
        kept.append(part)
    return tuple(kept), node


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict):
        return (True, node[part]) if part in node else (False, None)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def validation_issues(
    exc: ValidationError, data: Any, source: SourceMap, vocabulary: Iterable[str]
) -> list[PolicyIssue]:
    """One positioned issue per pydantic error; `vocabulary` feeds "did you mean" hints."""
    words = frozenset(vocabulary)
    return [_pydantic_issue(error, data, source, words) for error in exc.errors(include_url=False)]


def _pydantic_issue(
    error: ErrorDetails, data: Any, source: SourceMap, vocabulary: frozenset[str]
) -> PolicyIssue:
    loc, _ = data_loc(tuple(error["loc"]), data)
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        word = str(loc[-1]) if loc else ""
        if word in vocabulary:
            hint = f"{word!r} is valid elsewhere, not here: check the indentation"
        else:
            hint = suggest(word, vocabulary) or "remove it, or check the policy reference"
        return source.issue(IssueCode.UNKNOWN_KEY, loc, f"unknown key {word!r}", hint)
    if kind == "missing":
        word = str(loc[-1]) if loc else ""
        return source.issue(
            IssueCode.MISSING_KEY, loc[:-1], f"missing required key {word!r}", f"add `{word}:`"
        )
    code = IssueCode.INVALID_RULE if _is_rule(loc) else IssueCode.INVALID_VALUE
    hint = _hint_for(kind, loc)
    if kind == "enum":
        # A misspelt value (`action: dney`), or the key of a category or flag entry.
        expected = str(error.get("ctx", {}).get("expected", ""))
        if loc[-1:] == ("[key]",):
            loc = loc[:-1]
            message = f"{error['input']!r} is not one of {expected}"
        hint = suggest(str(error["input"]), _QUOTED.findall(expected)) or hint
    return source.issue(code, loc, message, hint)


_QUOTED = re.compile(r"'([^']*)'")


_QUOTED = re.compile(r"'([^']*)'")


def _is_rule(loc: Loc) -> bool:
    return len(loc) >= 4 and loc[-2] == "rules" and isinstance(loc[-1], int)


def _hint_for(kind: str, loc: Loc) -> str:
    last = str(loc[-1]) if loc else ""
    if kind == "literal_error" and last == "version":
        return 'set version: "1"'
    if kind in {"enum", "literal_error"}:
        return "use one of the values listed"
    if last == "rate_limit" or "rate_limit" in loc:
        return 'e.g. rate_limit: "10/minute" or {max: 10, window: 60, scope: agent}'
    if kind.startswith(("int_", "float_", "decimal_")):
        return "use a number"
    if kind.startswith("string_"):
        return "use a quoted string"
    return ""


__all__ = [
    "data_loc",
    "load_policy",
    "load_policy_text",
    "parse_yaml",
    "paused_gc",
    "read_policy",
    "render_loc",
    "source_of",
    "validate_policy_data",
    "validation_issues",
]
