"""Intercept's regexes (Go `regexp`, RE2 syntax) compiled for Python's `re`, with a guard.

Intercept matches `regex` conditions with Go's `regexp.MatchString`: RE2 syntax, unanchored
search, `$` only at the very end of the text (unless `(?m)`), `\\d \\w \\s \\b` ASCII-only.
Python's `re` differs in ways that matter for a policy, most of all `$`, which also
matches before a trailing newline (`^[a-z]+$` would pass `"main\\n; rm -rf /"`). So a
pattern is translated before compiling:

- `$` outside a character class becomes `\\Z` (end of text) unless multi-line mode is on;
- `\\z` becomes `\\Z`; `\\Q...\\E` becomes the escaped literal; `\\x{10FFFF}` becomes `\\U0010FFFF`;
  `(?<name>` becomes `(?P<name>`; POSIX classes (`[[:alpha:]]`) become ASCII ranges;
- `re.ASCII` makes `\\d \\w \\s \\b` ASCII as in RE2 (one divergence left: `(?i)` folds only
  ASCII letters, where RE2 folds all of Unicode);
- what RE2 rejects, and so Intercept's `validate` rejects, is refused with a hint:
  backreferences, look-around, atomic groups, possessive quantifiers, conditionals,
  comments, `\\p{..}` classes, the `U` and `x` flags, repeat counts over 1000, and
  Python-only escapes (`\\Z`, `\\u`, `\\N{...}`).
- refused although RE2 takes them (rare; the hint says how to rewrite): octal escapes
  such as `\\12` (read as backreferences by Python) and flags in mid-pattern (`a(?i)b`).

The guard: Python's engine backtracks, and an argument chosen by the caller can make a
pattern with a repeated group that itself repeats or alternates (`(a+)+$`, `(a|a)*$`)
take exponential time, or one with many unbounded repeats (`.*a.*b.*c`) polynomial time.
Such patterns run on RE2 itself (the `google-re2` package, linear time, the very syntax
Intercept uses); every other pattern runs on `re`, which is several times faster per call
here. Patterns longer than `MAX_PATTERN_LENGTH` are refused.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import re2  # type: ignore[import-untyped]

from callgate.policy.paths import ConditionError

MAX_PATTERN_LENGTH: Final = 4096
MAX_REPEAT: Final = 1000
# More unbounded repeats than this (`.*a.*b.*c`) can backtrack polynomially on long input.
MAX_UNBOUNDED_ON_RE: Final = 2

Matcher = Callable[[str], bool]

_POSIX_CLASSES: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_HEX_BRACED = re.compile(r"\{([0-9A-Fa-f]{1,8})\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NAMED = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
_RE2_ONLY = "this is not RE2 syntax, which Intercept policies use"


def compile_regex(pattern: object) -> Matcher:
    """Compile an RE2-syntax pattern into an unanchored `search` test; raise ConditionError."""
    if not isinstance(pattern, str):
        raise ConditionError(
            f"a regex must be a string, got {type(pattern).__name__}",
            "quote the pattern in YAML: value: '^feat/'",
        )
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConditionError(
            f"regex is {len(pattern)} characters long; the limit is {MAX_PATTERN_LENGTH}",
            "split it into several conditions, or use in/glob for long lists of values",
        )
    translation = translate_regex(pattern)
    with warnings.catch_warnings():
        # Python warns (FutureWarning) about `[[`, `--`, `&&` inside classes, which RE2 reads
        # literally; make that a compile error rather than a message on stderr at run time.
        warnings.simplefilter("error")
        try:
            compiled = re.compile(translation.text, re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning) as exc:
            raise ConditionError(
                f"invalid regex {pattern!r}: {exc}",
                "check the pattern (RE2 syntax, as in Go's regexp)",
            ) from exc
    if translation.backtracks:
        return _compile_re2(pattern)
    return _as_matcher(compiled.search)


def translate_regex(pattern: str) -> Translation:
    """Rewrite an RE2 pattern for Python's `re` (module docstring); raise ConditionError."""
    return _Translator(pattern).run()


def _as_matcher(search: Callable[[str], object]) -> Matcher:
    def matches(text: str) -> bool:
        return search(text) is not None

    return matches


def _compile_re2(pattern: str) -> Matcher:
    try:
        compiled = re2.compile(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ConditionError(
            f"invalid regex {pattern!r}: {reason}",
            "check the pattern (RE2 syntax, as in Go's regexp)",
        ) from exc
    return _as_matcher(compiled.search)


@dataclass(frozen=True, slots=True)
class Translation:
    """A pattern rewritten for Python's `re`, and whether backtracking could blow up on it."""

    text: str
    backtracks: bool


class _Translator:
    """One left-to-right pass over an RE2 pattern; see the module docstring for the rules."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.out: list[str] = []
        self.at = 0
        # One entry per open group, saving the enclosing group's state: multi-line mode,
        # repetition seen, alternation seen.
        self.groups: list[tuple[bool, bool, bool]] = []
        self.multiline = False
        self.repeated_inside = False
        self.alternated_inside = False
        self.last_group_repeats = False  # the atom just written is a group holding a repeat
        self.nested_repeat = False
        self.unbounded_count = 0
        self.at_start = True  # nothing but flag groups written so far

    def fail(self, message: str, hint: str = "") -> ConditionError:
        return ConditionError(
            f"regex {self.pattern!r}: {message}", hint or f"{_RE2_ONLY}; rewrite that part"
        )

    def run(self) -> Translation:
        pattern = self.pattern
        while self.at < len(pattern):
            char = pattern[self.at]
            atom_was_group = False
            if char == "\\":
                self.escape()
            elif char == "[":
                self.char_class()
            elif char == "(":
                self.open_group()
            elif char == ")":
                atom_was_group = self.close_group()
            elif char == "|":
                self.alternated_inside = True
                self.out.append(char)
                self.at += 1
            elif char == "$":
                self.out.append("$" if self.multiline else r"\Z")
                self.at += 1
            elif char in "*+?" or (char == "{" and _REPEAT.match(pattern, self.at)):
                self.quantifier()
            elif char == "{":
                self.out.append(r"\{")
                self.at += 1
            else:
                self.out.append(char)
                self.at += 1
            self.last_group_repeats = atom_was_group
            self.at_start = self.at_start and char == "(" and not self.groups
        backtracks = self.nested_repeat or self.unbounded_count > MAX_UNBOUNDED_ON_RE
        return Translation("".join(self.out), backtracks)

    def escape(self) -> None:
        pattern, at = self.pattern, self.at
        if at + 1 >= len(pattern):
            raise self.fail("it ends with a lone backslash", "escape it as \\\\")
        code = pattern[at + 1]
        if code == "Q":
            end = pattern.find("\\E", at + 2)
            literal = pattern[at + 2 :] if end < 0 else pattern[at + 2 : end]
            self.out.append(re.escape(literal))
            self.at = len(pattern) if end < 0 else end + 2
            return
        if code == "z":
            self.out.append(r"\Z")
        elif code in "pP":
            raise self.fail(
                "Unicode classes (\\p{...}) are not supported", "list the characters or ranges"
            )
        elif code in "ZuUN":
            raise self.fail(
                f"\\{code} is Python syntax, not RE2",
                "use \\z for the end of the text, \\x{2603} for a code point",
            )
        elif code == "C":
            raise self.fail("\\C (any byte) is not supported", "use . instead")
        elif code in "123456789":
            raise self.fail(
                "backreferences (\\1) are not RE2 syntax",
                "RE2 cannot refer back to a group; match the text explicitly",
            )
        elif code == "x" and pattern.startswith("{", at + 2):
            match = _HEX_BRACED.match(pattern, at + 2)
            if match is None or int(match.group(1), 16) > 0x10FFFF:
                raise self.fail("bad \\x{...} escape", "write \\x{41} with at most 0x10FFFF")
            self.out.append(f"\\U{int(match.group(1), 16):08x}")
            self.at = match.end()
            return
        else:
            self.out.append(pattern[at : at + 2])
        self.at = at + 2

    def char_class(self) -> None:
        pattern = self.pattern
        at = self.at + 1
        out = ["["]
        if pattern.startswith("^", at):
            out.append("^")
            at += 1
        if pattern.startswith("]", at):
            out.append(r"\]")
            at += 1
        while at < len(pattern) and pattern[at] != "]":
            char = pattern[at]
            if char == "\\" and at + 1 < len(pattern):
                if pattern[at + 1] in "pPC" or pattern[at + 1] in "123456789":
                    raise self.fail(f"\\{pattern[at + 1]} inside [...] is not supported")
                out.append(pattern[at : at + 2])
                at += 2
            elif pattern.startswith("[:", at):
                close = pattern.find(":]", at + 2)
                name = pattern[at + 2 : close] if close > 0 else ""
                if name.startswith("^"):
                    raise self.fail(
                        f"negated POSIX class [:{name}:] is not supported",
                        "write the complement as a negated class [^...]",
                    )
                if name not in _POSIX_CLASSES:
                    raise self.fail(
                        f"unknown POSIX class [:{name}:]",
                        "known: " + ", ".join(sorted(_POSIX_CLASSES)),
                    )
                out.append(_POSIX_CLASSES[name])
                at = close + 2
            elif char in "[&~|" or (char == "-" and pattern.startswith("-", at + 1)):
                # Literal in RE2; Python would warn that a future version reads them as
                # set operations.
                out.append("\\" + char)
                at += 1
            else:
                out.append(char)
                at += 1
        if at >= len(pattern):
            raise self.fail("a '[' is never closed", "close the class with ']'")
        out.append("]")
        self.out.append("".join(out))
        self.at = at + 1

    def open_group(self) -> None:
        pattern, at = self.pattern, self.at
        self.groups.append((self.multiline, self.repeated_inside, self.alternated_inside))
        self.repeated_inside = False
        self.alternated_inside = False
        if not pattern.startswith("(?", at):
            self.out.append("(")
            self.at += 1
            return
        named = _NAMED.match(pattern, at)
        if named is not None:
            self.out.append(f"(?P<{named.group(1)}>")
            self.at = named.end()
            return
        flags = _FLAGS.match(pattern, at)
        if flags is None:
            construct = pattern[at : at + 4]
            raise self.fail(
                f"{construct!r}... (look-around, atomic group, conditional, backreference "
                "or comment) is not RE2 syntax",
                "RE2 has no look-around; express the condition with a second condition",
            )
        self.flag_group(flags)

    def flag_group(self, flags: re.Match[str]) -> None:
        on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
        unknown = set(on + off) - set("ims")
        if unknown:
            raise self.fail(
                f"flag(s) {''.join(sorted(unknown))} are not supported",
                "RE2 flags are i (ignore case), m (multi-line), s (dot matches newline)",
            )
        if "m" in on:
            self.multiline = True
        if "m" in off:
            self.multiline = False
        self.at = flags.end()
        if end == ":":
            self.out.append(f"(?{on}-{off}:" if off else f"(?{on}:")
            return
        # `(?i)` alone: RE2 applies it to the rest of the enclosing group. Python only
        # allows it at the very start of the pattern, where both mean the same.
        self.groups.pop()
        if not self.at_start:
            raise self.fail(
                "flags like (?i) are only supported at the start of the pattern",
                "move them to the start, or scope them: (?i:...)",
            )
        if on:  # turning a flag off at the start is a no-op in RE2 and an error in Python
            self.out.append(f"(?{on})")

    def close_group(self) -> bool:
        if not self.groups:
            raise self.fail("a ')' has no matching '('", "remove it or escape it as \\)")
        ambiguous = self.repeated_inside or self.alternated_inside
        self.multiline, outer_repeated, self.alternated_inside = self.groups.pop()
        self.repeated_inside = outer_repeated or self.repeated_inside
        self.out.append(")")
        self.at += 1
        return ambiguous

    def quantifier(self) -> None:
        pattern, at = self.pattern, self.at
        char = pattern[at]
        unbounded = char in "*+"
        if char == "{":
            match = _REPEAT.match(pattern, at)
            assert match is not None
            low, comma, high = match.group(1), match.group(2), match.group(3)
            counts = [int(low)] + ([int(high)] if high else [])
            if max(counts) > MAX_REPEAT:
                raise self.fail(
                    f"repeat count over {MAX_REPEAT}",
                    "RE2 limits {n,m} to 1000; use + or * for long runs",
                )
            unbounded = bool(comma) and not high
            many = unbounded or max(counts) > 1
            text = match.group()
            end = match.end()
        else:
            many = char != "?"
            text = char
            end = at + 1
        if pattern.startswith("+", end):
            raise self.fail(
                "possessive quantifiers (a*+) are not RE2 syntax", "drop the second '+'"
            )
        if pattern.startswith("?", end):
            text += "?"
            end += 1
        if many and self.last_group_repeats:
            self.nested_repeat = True
        self.repeated_inside = self.repeated_inside or unbounded
        self.unbounded_count += unbounded
        self.out.append(text)
        self.at = end
