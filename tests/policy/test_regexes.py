"""RE2-syntax regexes on Python's re: the translation, what is refused, and the guard."""

from __future__ import annotations

import time

import pytest

from callgate.policy.conditions import ConditionError
from callgate.policy.regexes import MAX_PATTERN_LENGTH, compile_regex, translate_regex


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("^feat/", "feat/x", True),
        ("feat/", "my-feat/x", True),  # unanchored, as Go's MatchString
        ("^[a-z]+$", "main", True),
        ("^[a-z]+$", "main\n", False),  # RE2: $ is the end of the text, never before a \n
        ("^[a-z]+$", "main\nmore", False),
        ("(?m)^b$", "a\nb\nc", True),  # ...unless multi-line mode is on
        ("(?m:^b$)", "a\nb\nc", True),
        ("(?m:^b$)c$", "b\nc\n", False),  # the flag ends with its group
        ("[$]", "a$", True),  # a $ inside a class stays literal
        ("a\\$", "a$", True),
        ("^\\d+$", "123", True),
        ("^\\d+$", "١٢٣", False),  # \d is ASCII as in RE2, not Unicode digits
        ("^\\w+$", "héllo", False),
        ("\\Aabc\\z", "abc", True),
        ("\\Aabc\\z", "abc\n", False),
        ("(?i)abc", "ABC", True),
        ("(?i)(?s)a.c", "A\nC", True),
        ("(?-i)abc", "abc", True),  # turning a flag off at the start: a no-op
        ("\\Qa.b*\\E", "a.b*", True),
        ("\\Qa.b*\\E", "axbb", False),
        ("\\Qa.b", "a.b", True),  # \Q without \E runs to the end
        ("\\x{e9}", "é", True),
        ("\\x41", "A", True),
        ("(?P<year>\\d{4})", "in 2024", True),
        ("(?<year>\\d{4})", "in 2024", True),  # RE2's newer spelling of a named group
        ("[[:alpha:]]+[[:digit:]]", "ab1", True),
        ("^[[:alpha:]]+$", "ab1", False),
        ("^[^[:space:]]+$", "a b", False),
        ("[[:punct:]]", "!", True),
        ("[a&&b]", "&", True),  # RE2 reads && literally
        ("[a||b]", "|", True),
        ("[a~~b]", "~", True),
        ("[a--]", "-", True),
        ("[[]", "[", True),
        ("[]a]", "]", True),
        ("a{2}", "aa", True),
        ("a{2,}", "a", False),
        ("a{,2}", "a{,2}", True),  # not a repeat in RE2: literal
        ("x{a}", "x{a}", True),
        ("(main|master)$", "master", True),
        ("a+?b", "aab", True),
        ("(a+)+$", "aaaa", True),  # runs on RE2
        ("(a+)+$", "aaab", False),
    ],
)
def test_patterns_mean_what_they_mean_in_go(pattern: str, text: str, expected: bool) -> None:
    assert compile_regex(pattern)(text) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a)\\1", "backreferences"),
        ("(?P<n>a)(?P=n)", "not RE2 syntax"),
        ("(?=a)", "not RE2 syntax"),
        ("(?!a)", "not RE2 syntax"),
        ("(?<=a)b", "not RE2 syntax"),
        ("(?<!a)b", "not RE2 syntax"),
        ("(?>a)", "not RE2 syntax"),
        ("(?(1)a|b)", "not RE2 syntax"),
        ("(?#note)a", "not RE2 syntax"),
        ("a*+", "possessive"),
        ("a++", "possessive"),
        ("\\pL", "Unicode classes"),
        ("\\p{Greek}", "Unicode classes"),
        ("[\\pL]", "inside [...]"),
        ("\\C", "any byte"),
        ("abc\\Z", "Python syntax, not RE2"),
        ("\\u0041", "Python syntax, not RE2"),
        ("\\N{DIGIT ONE}", "Python syntax, not RE2"),
        ("(?x)a", "not supported"),
        ("(?U)a+", "not supported"),
        ("a(?i)b", "only supported at the start"),
        ("a{1001}", "repeat count over 1000"),
        ("a{1,1001}", "repeat count over 1000"),
        ("[[:nope:]]", "unknown POSIX class"),
        ("[[:^alpha:]]", "negated POSIX class"),
        ("\\x{110000}", "bad \\x{...} escape"),
        ("[abc", "never closed"),
        ("a)", "no matching '('"),
        ("(a", "invalid regex"),
        ("a\\", "lone backslash"),
        ("*a", "invalid regex"),
        ("a**", "invalid regex"),
        ("\\e", "invalid regex"),
        ("a" * (MAX_PATTERN_LENGTH + 1), "the limit is"),
    ],
)
def test_what_re2_refuses_is_refused_with_a_hint(pattern: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_regex(pattern)
    assert message in caught.value.message
    assert caught.value.hint


def test_a_non_string_pattern_is_refused() -> None:
    with pytest.raises(ConditionError, match="must be a string"):
        compile_regex(["a"])


@pytest.mark.parametrize(
    ("pattern", "backtracks"),
    [
        ("^feat/", False),
        ("^(main|master)$", False),
        ("^[a-z0-9-]+$", False),
        ("\\.(env|pem)$", False),
        ("DROP\\s+TABLE\\s+\\w", False),
        ("(ab)*", False),
        ("(a+)?", False),
        ("(a{2,5})+", False),
        ("(a+)+$", True),
        ("(a|a)*$", True),
        ("(?:x*y)*", True),
        ("((a+))+", True),
        ("(a+){2,}", True),
        (".*a.*b.*c", True),
    ],
)
def test_patterns_that_could_backtrack_badly_are_recognised(pattern: str, backtracks: bool) -> None:
    assert translate_regex(pattern).backtracks is backtracks


@pytest.mark.parametrize("pattern", ["(a+)+$", "^(a|a)*$", "(a|aa)+$", ".*a.*a.*a.*a.*b"])
def test_catastrophic_patterns_run_in_linear_time(pattern: str) -> None:
    # Python's backtracking engine needs minutes for these; RE2 needs microseconds.
    matches = compile_regex(pattern)
    started = time.perf_counter()
    assert matches("a" * 30 + "!") is False
    assert matches("a" * 5000 + "!") is False
    assert time.perf_counter() - started < 0.5


def test_the_translation_is_what_python_compiles() -> None:
    assert translate_regex("^[a-z]+$").text == "^[a-z]+\\Z"
    assert translate_regex("(?m)^x$").text == "(?m)^x$"
    assert translate_regex("[[:digit:]]\\z").text == "[0-9]\\Z"
