"""Redaction: secrets by key name and by value shape, the structure kept, every change listed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.audit.redaction import (
    DEFAULT_REDACTOR,
    MAX_DEPTH,
    REDACTED,
    ArgumentsMode,
    Redactor,
    compile_recording,
    key_words,
    passes_luhn,
    redact_text,
)

KEY = b"k" * 32
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V1\nq3BS9xh\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123.def-456_ghi", "Authorization: Bearer [redacted:bearer]"),
        ("bearer tok+en/x==", "bearer [redacted:bearer]"),
        (f"token {JWT} end", "token [redacted:jwt] end"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [redacted:aws_access_key] here"),
        ("ASIAY34FZKBOKMUTVV7A", "[redacted:aws_access_key]"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [redacted:aws_secret_key]",
        ),
        (f"key:\n{PEM}\nafter", "key:\n[redacted:private_key]\nafter"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE cut off", "[redacted:private_key]"),
        ("postgres://app:s3cret@db:5432/x", "postgres://app:[redacted:url_password]@db:5432/x"),
        ("card 4111 1111 1111 1111 ok", "card [redacted:card] ok"),
        ("4111-1111-1111-1111", "[redacted:card]"),
        ("5500005555555559", "[redacted:card]"),
        ("378282246310005", "[redacted:card]"),  # 15 digits (Amex)
    ],
    ids=[
        "bearer",
        "bearer-lower",
        "jwt",
        "aws-key-id",
        "aws-session-key-id",
        "aws-secret",
        "pem",
        "pem-unterminated",
        "url-password",
        "card-spaces",
        "card-dashes",
        "card-plain",
        "card-15",
    ],
)
def test_each_secret_shape_is_replaced_in_place(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # fails Luhn
        "order 1234567890123",  # 13 digits, fails Luhn
        "411111111111",  # 12 digits: too short for a card
        "41111111111111111111",  # 20 digits: too long
        "the bearer of good news",
        "bearer bonds",
        "https://example.com/path",  # a URL without credentials
        "AKIA is a prefix",
        "plain text",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("api_key", ("api", "key")),
        ("X-Api-Key", ("x", "api", "key")),
        ("apiKey", ("api", "key")),
        ("APIKey", ("api", "key")),
        ("max_tokens", ("max", "tokens")),
        ("client.secret", ("client", "secret")),
    ],
)
def test_key_names_split_into_words(name: str, words: tuple[str, ...]) -> None:
    assert key_words(name) == words


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "Password",
        "passwd",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "apikey",
        "access_token",
        "githubToken",
        "client_secret",
        "Authorization",
        "private_key",
        "privateKey",
        "aws_access_key_id",
        "credentials",
        "Cookie",
        "set-cookie",
    ],
)
def test_secret_key_names_are_redacted_whole(key: str) -> None:
    redacted, paths = DEFAULT_REDACTOR.redact({key: "value", "other": "kept"})
    assert redacted == {key: REDACTED, "other": "kept"}
    assert paths == [f"/{key}"]


@pytest.mark.parametrize("key", ["max_tokens", "author", "keyword", "secretary"])
def test_names_that_only_look_like_secrets_are_kept(key: str) -> None:
    # "tokens" is not the word "token"; "author" is not "authorization".
    assert DEFAULT_REDACTOR.redact({key: 1000}) == ({key: 1000}, [])


def test_a_secret_key_redacts_a_whole_object_but_not_a_flag() -> None:
    arguments = {"credentials": {"user": "u", "pw": "p"}, "token": None, "secret": True}
    assert DEFAULT_REDACTOR.redact(arguments) == (
        {"credentials": REDACTED, "token": None, "secret": True},
        ["/credentials"],
    )


def test_configured_key_names_add_to_the_built_in_ones() -> None:
    redactor = Redactor(("ssn", "card number"))
    arguments = {"ssn": "078-05-1120", "cardNumber": "x", "password": "y", "name": "ada"}
    redacted, paths = redactor.redact(arguments)
    assert redacted == {"ssn": REDACTED, "cardNumber": REDACTED, "password": "y", "name": "ada"}
    assert paths == ["/ssn", "/cardNumber"]
    # compile_recording keeps the built-in names and adds the policy's.
    recording = compile_recording("redacted", ["ssn"])
    assert recording.redactor.redact({"ssn": "1", "password": "2"})[1] == ["/ssn", "/password"]


def test_the_structure_is_kept_and_every_change_has_a_json_pointer() -> None:
    arguments = {
        "query": "select 1",
        "headers": [{"name": "Authorization", "value": "Bearer abcdef123"}],
        "a/b": {"til~de": 4111111111111111},
        "count": 3,
        "ratio": 0.5,
    }
    redacted, paths = DEFAULT_REDACTOR.redact(arguments)
    assert redacted == {
        "query": "select 1",
        "headers": [{"name": "Authorization", "value": "Bearer [redacted:bearer]"}],
        "a/b": {"til~de": "[redacted:card]"},
        "count": 3,
        "ratio": 0.5,
    }
    assert paths == ["/headers/0/value", "/a~1b/til~0de"]


def test_the_arguments_given_are_never_changed() -> None:
    arguments = {"password": "x", "nested": {"token": "y"}}
    DEFAULT_REDACTOR.redact(arguments)
    assert arguments == {"password": "x", "nested": {"token": "y"}}


def test_values_nested_too_deep_are_replaced_whole() -> None:
    deep: dict[str, Any] = {"leaf": "kept?"}
    for _ in range(MAX_DEPTH + 5):
        deep = {"d": deep}
    _, paths = DEFAULT_REDACTOR.redact(deep)
    assert len(paths) == 1 and paths[0].count("/d") == MAX_DEPTH


def test_each_mode_writes_its_fields() -> None:
    arguments = {"password": "x", "n": 1}
    assert set(compile_recording("hash").fields(arguments, KEY)) == {"arguments_hmac"}
    full = compile_recording("full").fields(arguments, KEY)
    assert full["arguments"] == arguments and "redacted" not in full
    redacted = compile_recording("redacted").fields(arguments, KEY)
    assert redacted["arguments"] == {"password": REDACTED, "n": 1}
    assert redacted["redacted"] == ["/password"]
    assert compile_recording("redacted").mode is ArgumentsMode.REDACTED


def _with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if passes_luhn(body + digit):
            return body + digit
    raise AssertionError("some digit always completes a Luhn number")


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_numbers_completed_with_their_luhn_digit_are_redacted(body: str) -> None:
    number = _with_check_digit(body)
    assert redact_text(f"pay {number} now") == "pay [redacted:card] now"
    value = int(number)  # as a whole number it has no leading zeros: maybe too short
    expected: tuple[dict[str, Any], list[str]] = (
        ({"n": "[redacted:card]"}, ["/n"]) if value >= 10**12 else ({"n": value}, [])
    )
    assert DEFAULT_REDACTOR.redact({"n": value}) == expected


@given(st.text(alphabet="0123456789", min_size=13, max_size=19), st.integers(0, 18))
def test_changing_one_digit_breaks_the_luhn_check(number: str, where: int) -> None:
    number = _with_check_digit(number[:-1])
    where %= len(number)
    changed = str((int(number[where]) + 5) % 10)  # +5 mod 10: one digit, another value
    altered = number[:where] + changed + number[where + 1 :]
    assert not passes_luhn(altered)


plain_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6).filter(
    lambda key: not DEFAULT_REDACTOR.is_secret_key(key)
)
plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**11), 10**11)
    | st.text(alphabet="abcdefghij .,:", max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_keys, inner, max_size=4),
    max_leaves=15,
)


@given(st.dictionaries(plain_keys, plain_values, max_size=6))
def test_arguments_without_secrets_pass_unchanged(arguments: dict[str, Any]) -> None:
    assert DEFAULT_REDACTOR.redact(arguments) == (arguments, [])


@given(st.dictionaries(st.text(max_size=12), plain_values | st.text(max_size=40), max_size=6))
def test_redaction_keeps_every_key_and_is_stable(arguments: dict[str, Any]) -> None:
    once, _ = DEFAULT_REDACTOR.redact(arguments)
    assert list(once) == list(arguments)
    twice, _ = DEFAULT_REDACTOR.redact(once)
    assert twice == once
