"""Leaf conditions `{path, op, value}`, compiled once into predicates over a call's subject.

The subject is `{"args": {...}, "state": {tool: {counter: Decimal}}, "agent": {"name": str,
"roles": [...]}}`. `compile_condition` parses the path (see `callgate.policy.paths`),
checks and converts the value, compiles regexes, and returns a `Predicate`: a plain
function that walks the subject and answers True (the condition holds) or False. The
engine builds `any`/`all`/`not` groups from these.

Intercept's operators follow PolicyLayer Intercept's Go source, `internal/engine/operators.go`
(with `engine.go` for `exists` and missing values, `internal/conv/conv.go` for what counts
as a number, `internal/config/validate.go` for which values each operator accepts):

- **Missing** (absent argument or intermediate key): every operator is False except
  `exists`; also `neq` and `not_in`, so a missing argument never slips past a negative test.
- `exists` takes `true` or `false`; JSON `null` counts as absent (Intercept:
  `exists && val != nil`), so `exists: false` means "absent or null".
- `eq` / `neq`: when both sides are numbers they compare as numbers; otherwise as Go's
  `fmt.Sprintf("%v")` renderings, so `eq: 5` matches the string `"5"`, `eq: true` matches
  `"true"`, `eq: null` matches `null`. JSON numbers render as Go float64s (`1e+06`), YAML
  integers as integers (`1000000`), exactly as Intercept does. `neq` is `not eq`.
- `in` / `not_in` take a list; `in` is `eq` against any item, `not_in` its negation.
- `lt lte gt gte`: both sides must be numbers: a string such as `"5"` is not (False), nor is
  a boolean. callgate compares exactly (int, float via its shortest repr, Decimal), where
  Intercept goes through float64; NaN and infinities never pass. The value may be given as
  a numeric string (`"19.99"`), which Intercept's validate refuses.
- `regex`: the argument must be a string; RE2 syntax, unanchored search (`regexes.py`).
- `contains`: substring when the argument is a string (the value must then be a string),
  `eq` against any element when it is a list; False for anything else.

callgate's additions:

- `not_regex`: a string that does not match (a non-string is False).
- `glob`: shell-style `fnmatch` match of a string, case-sensitive; `*` also crosses `/`.
  The value is a pattern or a list of them (any may match).
- `path_within`: the argument, normalised with POSIX rules (`.`, `..`, repeated slashes;
  no symlinks, since no file system is consulted), is one of the directories or below it.
  A relative path, a non-string or a string with NUL is never within.
- `url_host_in`: the URL's host (urllib parsing: userinfo stripped, port ignored, lowercase,
  IDNA, trailing dot dropped) is one of the hosts; `*.example.com` matches any subdomain,
  not `example.com` itself. A URL without a scheme and host, with characters a host cannot
  hold (`\\`, `%`, spaces) or with a bad port is never in. It is an allowlist test: use it to
  say where calls may go, not to list hosts to block.
- `length_lte` / `length_gte`: the length of a string (code points), list or object.

**Wildcards** (`args.items[*].amount`): the condition holds when the list has at least one
element and every element satisfies it; a missing, non-list or empty list makes it False
for every operator, `exists` included. An empty list proves nothing about its elements,
and a rule such as `args.payments[*].amount lte 100` exists to stop calls, so vacuous truth
would let `payments: []` (or a malformed call) through; nested wildcards apply the rule at
each level.

**Undecidable calls** (`unknown=`): "False" is fail-closed only where a False condition
stops the call (Intercept's `evaluate` rules). Where a *holding* condition is what stops it
(`require_approval`: "approval when `args.amount gt 1000`"), a missing or mistyped amount
must not slip through, so `compile_condition(..., unknown=True)` answers True whenever the
operator cannot judge the value: missing (except for `exists`), a type the operator does
not take (a string for `lt`, a number for `regex`), or a wildcard with no or an empty list.
Under `not`, pass the opposite of the enclosing value; `any`/`all` pass it through.

**Values that cannot be read.** Predicates never catch what reading the subject raises,
beyond the path walk's own misses (`KeyError`, `TypeError`: the value is absent). Policy
replay relies on it: it hands in recorded arguments whose redacted values raise
`ValueNotRecorded` when read (`callgate.replay.arguments`), out of `evaluate`, and
reports the call as one it cannot tell instead of judging `"[redacted]"`. The live
proxy's arguments are plain dicts and lists, so this costs it nothing.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import math
import operator
import posixpath
import re
from collections.abc import Callable, Mapping, Set
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

from callgate.policy.paths import (
    MISSING,
    WILDCARD,
    ConditionError,
    Segment,
    compile_walk,
    parse_path,
    split_wildcards,
)
from callgate.policy.regexes import compile_regex

__all__ = [
    "MISSING",
    "OPERATORS",
    "ConditionError",
    "Predicate",
    "compile_condition",
    "parse_path",
]

Predicate = Callable[[Mapping[str, Any]], bool]
Test = Callable[[Any], bool]  # judges one present value (never MISSING)

INTERCEPT_OPERATORS: Final = frozenset(
    {"eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists"}
)
OPERATORS: Final = INTERCEPT_OPERATORS | frozenset(
    {"not_regex", "glob", "path_within", "url_host_in", "length_lte", "length_gte"}
)


def compile_condition(path: str, op: str, value: Any, *, unknown: bool = False) -> Predicate:
    """Compile one leaf condition into a predicate over the subject; raise ConditionError.

    `unknown` is the answer when the condition cannot judge the call: the value is missing
    (for every operator but `exists`), has a type the operator cannot judge (a string for
    `lt`, a number for `regex`), or a wildcard finds no list or an empty one. False, the
    default, is Intercept's rule and fails closed where a False condition denies; a rule
    whose holding conditions *demand* something (require_approval) passes True, and a
    condition under `not` takes the opposite of its parent's.
    """
    root, segments = parse_path(path)
    if op == "exists":
        if type(value) is not bool:
            raise ConditionError(
                f"exists takes true or false, got {value!r}",
                "value: true (must be present) or value: false (must be absent)",
            )
        return _bind_path(root, segments, _exists_leaf(value), None, unknown)
    factory = _TESTS.get(op) if isinstance(op, str) else None
    if factory is None:
        close = difflib.get_close_matches(str(op), sorted(OPERATORS), n=1)
        raise ConditionError(
            f"unknown operator {op!r}",
            f"did you mean {close[0]!r}?"
            if close
            else "operators: " + ", ".join(sorted(OPERATORS)),
        )
    test = factory(op, value)
    if not unknown:
        return _bind_path(root, segments, _present_leaf(test), test, unknown)
    return _bind_path(root, segments, _judging_leaf(test, _JUDGES.get(op)), None, unknown)


# --- paths ----------------------------------------------------------------------------


def _present_leaf(test: Test) -> Test:
    def leaf(value: Any) -> bool:
        return value is not MISSING and test(value)

    return leaf


def _judging_leaf(test: Test, judges: Test | None) -> Test:
    """A leaf that answers True when it cannot judge the value (see `unknown`)."""

    def leaf(value: Any) -> bool:
        if value is MISSING or (judges is not None and not judges(value)):
            return True
        return test(value)

    return leaf


def _exists_leaf(expected: bool) -> Test:
    def leaf(value: Any) -> bool:
        return (value is not MISSING and value is not None) is expected

    return leaf


def _bind_path(
    root: str, segments: tuple[Segment, ...], leaf: Test, test: Test | None, unknown: bool
) -> Predicate:
    """Join the path walk and the leaf (which also judges MISSING) into one predicate.

    `test` is the leaf's test of a present value when the leaf is "present and test", so
    the common one-key path (`args.amount`) can skip a call.
    """
    if WILDCARD in segments:
        chunks = split_wildcards((root, *segments))
        last = compile_walk(chunks[-1])

        def check_last(value: Any) -> bool:
            return leaf(last(value))

        check: Test = check_last
        for chunk in reversed(chunks[1:-1]):
            check = _every(compile_walk(chunk), check, unknown)
        return _every(compile_walk(chunks[0]), check, unknown)
    if len(segments) == 1 and isinstance(segments[0], str):
        key = segments[0]
        if test is None:

            def leaf_1(subject: Mapping[str, Any]) -> bool:
                container = subject.get(root, MISSING)
                if type(container) is dict or isinstance(container, Mapping):
                    return leaf(container.get(key, MISSING))
                return leaf(MISSING)

            return leaf_1

        def predicate_1(subject: Mapping[str, Any]) -> bool:
            container = subject.get(root, MISSING)
            if type(container) is dict or isinstance(container, Mapping):
                value = container.get(key, MISSING)
                return value is not MISSING and test(value)
            return False

        return predicate_1
    walk = compile_walk((root, *segments))

    def predicate(subject: Mapping[str, Any]) -> bool:
        return leaf(walk(subject))

    return predicate


def _every(walk: Callable[[Any], Any], check: Test, unknown: bool) -> Test:
    """A test of a value whose `walk` gives a list: every element passes; `unknown` when
    there is no list or it is empty."""

    def every(value: Any) -> bool:
        items = walk(value)
        if type(items) is not list and not isinstance(items, tuple):
            return unknown
        if not items:
            return unknown
        return all(check(item) for item in items)

    return every


# --- numbers and Go's %v ----------------------------------------------------------------


def _number(value: Any) -> int | Decimal | None:
    """The exact value of a JSON/YAML number, or None (booleans, strings, NaN, infinities)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is Decimal:
        return value if value.is_finite() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _number(float(value))
    return None


def _go_float(number: Decimal) -> str:
    """Go's `%v` for a float64 (`strconv` 'g', shortest): `5`, `0.1`, `1e+06`, `1e-05`."""
    if number.is_nan():
        return "NaN"
    if number.is_infinite():
        return "-Inf" if number.is_signed() else "+Inf"
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    prefix = "-" if sign else ""
    if not any(digits):
        return prefix + "0"
    ds = list(digits)
    while len(ds) > 1 and ds[-1] == 0:  # Decimal.normalize() would round to 28 digits
        ds.pop()
        exponent += 1
    text = "".join(map(str, ds))
    point = len(text) + exponent  # digits before the decimal point
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def _go_text(value: Any, *, from_json: bool) -> str:
    """Go's `fmt.Sprintf("%v", value)` for a decoded JSON argument or YAML policy value.

    Intercept decodes JSON numbers to float64 (`1e+06`) and YAML integers to int
    (`1000000`); `from_json` says which side `value` comes from.
    """
    if type(value) is str:
        return value
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int) and not from_json:
        return str(int(value))
    if isinstance(value, int | float | Decimal):
        return _go_float(value if isinstance(value, Decimal) else Decimal(repr(value)))
    if isinstance(value, Mapping):
        inner = sorted(
            (_go_text(k, from_json=from_json), _go_text(v, from_json=from_json))
            for k, v in value.items()
        )
        return "map[" + " ".join(f"{k}:{v}" for k, v in inner) + "]"
    if isinstance(value, list | tuple | Set):
        return "[" + " ".join(_go_text(v, from_json=from_json) for v in value) + "]"
    return str(value)


def _equality(expected: Any) -> Test:
    """Intercept's `evalEq` against one expected value."""
    number = _number(expected)
    text = _go_text(expected, from_json=False)

    def equals(value: Any) -> bool:
        if type(value) is str:
            return value == text
        if number is not None:
            actual = _number(value)
            if actual is not None:
                return actual == number
        return _go_text(value, from_json=True) == text

    return equals


# --- operator factories -------------------------------------------------------------------


def _eq(op: str, value: Any) -> Test:
    equals = _equality(value)
    if op == "eq":
        return equals

    def differs(actual: Any) -> bool:
        return not equals(actual)

    return differs


def _membership(op: str, value: Any) -> Test:
    items = _require_list(op, value, "a list of values: value: [usd, eur]")
    numbers = frozenset(n for n in map(_number, items) if n is not None)
    texts = frozenset(_go_text(item, from_json=False) for item in items)
    # A number in the call meets a numeric item as a number, a non-numeric one as text.
    texts_of_others = frozenset(
        _go_text(item, from_json=False) for item in items if _number(item) is None
    )
    wanted = op == "in"

    def member(actual: Any) -> bool:
        if type(actual) is str:
            return (actual in texts) is wanted
        number = _number(actual)
        if number is not None:
            found = number in numbers or (
                bool(texts_of_others) and _go_text(actual, from_json=True) in texts_of_others
            )
        else:
            found = _go_text(actual, from_json=True) in texts
        return found is wanted

    return member


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _comparison(op: str, value: Any) -> Test:
    limit = Decimal(_numeric_value(op, value))
    compare = _ORDER[op]
    # Exact shortcuts, so the hot path compares two ints or two floats:
    # - an int x is below L exactly when it is below ceil(L), at most L when at most
    #   floor(L), and so on;
    # - a finite float x and a limit L of at most 15 significant digits: x <op> float(L)
    #   gives the same answer as Decimal(repr(x)) <op> L, because rounding to the nearest
    #   float is monotonic and a 15-digit decimal survives the round trip through a float.
    int_bound = _int_bound(op, limit)
    float_bound = _float_twin(limit)

    def test(actual: Any) -> bool:
        kind = type(actual)
        if kind is int and int_bound is not None:
            return compare(actual, int_bound)
        if kind is float and float_bound is not None:
            # `x - x` is NaN for NaN and the infinities, which never pass.
            return actual - actual == 0.0 and compare(actual, float_bound)
        number = _number(actual)
        return number is not None and compare(number, limit)

    return test


def _int_bound(op: str, limit: Decimal) -> int | None:
    if limit.adjusted() > 400:  # no thousand-digit ints: compare as Decimal instead
        return None
    return math.ceil(limit) if op in ("lt", "gte") else math.floor(limit)


def _float_twin(limit: Decimal) -> float | None:
    _, digits, _ = limit.as_tuple()
    significant = len(str(int("".join(map(str, digits))))) if any(digits) else 1
    if significant > 15 or not -300 < limit.adjusted() < 300:
        return None
    return float(limit)


def _numeric_value(op: str, value: Any) -> int | Decimal:
    number = _number(value)
    if number is None and type(value) is str:
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            parsed = None
        if parsed is not None and parsed.is_finite():
            number = parsed
    if number is None:
        raise ConditionError(
            f"{op} compares numbers, got {value!r}",
            "give a finite number: value: 100 (or a numeric string such as '19.99')",
        )
    return number


def _regex(op: str, value: Any) -> Test:
    matches = compile_regex(value)
    wanted = op == "regex"

    def test(actual: Any) -> bool:
        return type(actual) is str and matches(actual) is wanted

    return test


def _contains(op: str, value: Any) -> Test:
    equals = _equality(value)
    needle = value if type(value) is str else None

    def contains(actual: Any) -> bool:
        if type(actual) is str:
            return needle is not None and needle in actual
        if type(actual) is list or isinstance(actual, tuple | Set):
            # A string element equals a string needle only when identical, so a plain
            # membership test settles those; the others take Go's rules one by one.
            if needle is not None and needle in actual:
                return True
            return any(equals(item) for item in actual if needle is None or type(item) is not str)
        return False

    return contains


def _glob(op: str, value: Any) -> Test:
    patterns = _require_strings(op, value, "a pattern or a list of them: value: 'delete_*'")
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    match = regex.match

    def test(actual: Any) -> bool:
        return type(actual) is str and match(actual) is not None

    return test


def _path_within(op: str, value: Any) -> Test:
    directories = _require_strings(op, value, "an absolute directory or a list: value: /app/src")
    roots: list[str] = []
    for directory in directories:
        if not directory.startswith("/") or "\0" in directory:
            raise ConditionError(
                f"path_within needs absolute directories, got {directory!r}",
                "write the directory from the root, e.g. /home/agent/project",
            )
        roots.append(normalize_posix_path(directory))
    prefixes = tuple(root if root == "/" else root + "/" for root in roots)
    exact = frozenset(roots)

    def within(actual: Any) -> bool:
        if type(actual) is not str or not actual.startswith("/") or "\0" in actual:
            return False
        normal = normalize_posix_path(actual)
        return normal in exact or normal.startswith(prefixes)

    return within


def normalize_posix_path(path: str) -> str:
    """`posixpath.normpath`, and a leading `//` folded to `/` as Linux does."""
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("//") else normal


_HOST_CHARS: Final = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def _url_host_in(op: str, value: Any) -> Test:
    entries = _require_strings(op, value, "a host or a list: value: [api.github.com, '*.s3.aws']")
    exact: set[str] = set()
    suffixes: list[str] = []
    for entry in entries:
        wildcard = entry.startswith("*.")
        host = normalize_host(entry[2:] if wildcard else entry)
        if host is None or (wildcard and ":" in host):
            raise ConditionError(
                f"url_host_in: {entry!r} is not a host name",
                "write a host without scheme or port (api.example.com), or *.example.com",
            )
        if wildcard:
            suffixes.append("." + host)
        else:
            exact.add(host)
    frozen_exact = frozenset(exact)
    frozen_suffixes = tuple(suffixes)

    def host_in(actual: Any) -> bool:
        host = url_host(actual) if type(actual) is str else None
        if host is None:
            return False
        return host in frozen_exact or host.endswith(frozen_suffixes)

    return host_in


def normalize_host(host: str) -> str | None:
    """A host as compared: a canonical IPv6 address, or a lowercase ASCII (IDNA) name
    without trailing dot; None when it cannot be a host."""
    if host.startswith("[") and host.endswith("]"):
        return _ipv6(host[1:-1])
    if ":" in host:
        return _ipv6(host)
    if host.isascii():
        name = host.lower()
    else:
        try:
            name = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    name = name.removesuffix(".")
    return name if _HOST_CHARS.fullmatch(name) else None


def _ipv6(text: str) -> str | None:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def _is_port(digits: str) -> bool:
    return not digits or (digits.isascii() and digits.isdigit() and int(digits) <= 65535)


def url_host(url: str) -> str | None:
    """The host a URL really addresses, normalised; None when malformed or ambiguous.

    urllib's reading (the host follows the last '@' of the authority) is also what WHATWG
    parsers do, except for '\\', which they read as '/': such URLs, and any with spaces
    or control characters, are refused rather than guessed at.
    """
    if " " in url or "\\" in url or not url.isprintable():
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]") + 1
        host, port = hostport[:end], hostport[end:]
    else:
        host, colon, port = hostport.partition(":")
        port = colon + port
    if not host or (port and not _is_port(port[1:])):
        return None
    return normalize_host(host)


_SIZED: Final = (str, list, dict)


def _length(op: str, value: Any) -> Test:
    if type(value) is not int or value < 0:
        raise ConditionError(
            f"{op} takes a whole number of characters or items, got {value!r}",
            "value: 256",
        )
    bound = value
    at_most = op == "length_lte"

    def test(actual: Any) -> bool:
        if type(actual) not in _SIZED and not isinstance(actual, str | list | tuple | Mapping):
            return False
        size = len(actual)
        return size <= bound if at_most else size >= bound

    return test


def _require_list(op: str, value: Any, example: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ConditionError(f"{op} takes a list, got {value!r}", f"write {example}")
    return list(value)


def _require_strings(op: str, value: Any, example: str) -> list[str]:
    items = [value] if type(value) is str else value
    if (
        not isinstance(items, list | tuple)
        or not items
        or not all(type(item) is str and item for item in items)
    ):
        raise ConditionError(
            f"{op} takes a non-empty string or list of strings, got {value!r}",
            f"write {example}",
        )
    return list(items)


def _is_number(value: Any) -> bool:
    return _number(value) is not None


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_searchable(value: Any) -> bool:
    return type(value) is str or isinstance(value, list | tuple | Set)


def _is_sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | Mapping)


def _is_absolute_path(value: Any) -> bool:
    # A relative path is within nothing: the directory it is relative to is unknown.
    return type(value) is str and value.startswith("/") and "\0" not in value


def _is_url(value: Any) -> bool:
    return type(value) is str and url_host(value) is not None


# Which values each operator can judge; eq, neq, in and not_in judge any value (Go's %v).
_JUDGES: Final[dict[str, Test]] = {
    **dict.fromkeys(("lt", "lte", "gt", "gte"), _is_number),
    **dict.fromkeys(("regex", "not_regex", "glob"), _is_string),
    "path_within": _is_absolute_path,
    "url_host_in": _is_url,
    "contains": _is_searchable,
    **dict.fromkeys(("length_lte", "length_gte"), _is_sized),
}

_TESTS: Final[dict[str, Callable[[str, Any], Test]]] = {
    "eq": _eq,
    "neq": _eq,
    "in": _membership,
    "not_in": _membership,
    "lt": _comparison,
    "lte": _comparison,
    "gt": _comparison,
    "gte": _comparison,
    "regex": _regex,
    "not_regex": _regex,
    "contains": _contains,
    "glob": _glob,
    "path_within": _path_within,
    "url_host_in": _url_host_in,
    "length_lte": _length,
    "length_gte": _length,
}
assert set(_TESTS) | {"exists"} == OPERATORS
