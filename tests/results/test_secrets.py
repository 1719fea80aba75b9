"""Secrets found by the shape of their value, and exactly what replaces them."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from callgate.results.secrets import SHAPES, redact_secrets

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MaqJ\n"
    "-----END RSA PRIVATE KEY-----"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU"


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        (f"key:\n{PEM}\nnext", "key:\n[REDACTED:private_key]\nnext", "private_key"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
            "[REDACTED:private_key]",
            "private_key",
        ),
        (f"token={JWT} ok", "token=[REDACTED:jwt] ok", "jwt"),
        ("id AKIAIOSFODNN7EXAMPLE.", "id [REDACTED:aws_access_key].", "aws_access_key"),
        ("ASIAY34FZKBOKMUTVV7A", "[REDACTED:aws_access_key]", "aws_access_key"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "aws_secret_access_key = [REDACTED:aws_secret_key]\n",
            "aws_secret_key",
        ),
        ("ghp_" + "A1b2" * 9, "[REDACTED:github_token]", "github_token"),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "[REDACTED:github_token]",
            "github_token",
        ),
        ("xoxb-1234567890-abcdefghij", "[REDACTED:slack_token]", "slack_token"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:stripe_key]", "stripe_key"),
        ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:stripe_key]", "stripe_key"),
        (
            "OPENAI_API_KEY sk-proj-a1B2c3D4e5F6g7H8i9J0kLmN",
            "OPENAI_API_KEY [REDACTED:openai_key]",
            "openai_key",
        ),
        (
            "Authorization: Bearer 9f8e7d6c5b4a39281706abcdef",
            "Authorization: Bearer [REDACTED:bearer]",
            "bearer",
        ),
        (
            "postgres://app:hunter2@db:5432/orders",
            "postgres://app:[REDACTED:url_password]@db:5432/orders",
            "url_password",
        ),
        (
            "mongodb+srv://admin:S3cr3t!@cluster0.example.net/db",
            "mongodb+srv://admin:[REDACTED:url_password]@cluster0.example.net/db",
            "url_password",
        ),
        (
            "redis://:p4ss@cache:6379/0",
            "redis://:[REDACTED:url_password]@cache:6379/0",
            "url_password",
        ),
        (
            "jdbc:sqlserver://db:1433;user=sa;password=Pa55w0rd;encrypt=true",
            "jdbc:sqlserver://db:1433;user=sa;password=[REDACTED:password];encrypt=true",
            "password",
        ),
        (
            "Server=db;Uid=app;Pwd=Sup3rSecret;",
            "Server=db;Uid=app;Pwd=[REDACTED:password];",
            "password",
        ),
        (
            'config api_key="a1b2c3d4e5f6g7h8i9j0"',
            'config api_key="[REDACTED:api_key]"',
            "api_key",
        ),
        ("client_secret: 0a1b2c3d4e5f6a7b8c9d", "client_secret: [REDACTED:api_key]", "api_key"),
    ],
)
def test_each_shape_is_replaced_by_its_marker(text: str, expected: str, kind: str) -> None:
    redaction = redact_secrets(text)
    assert redaction is not None
    assert redaction.text == expected
    assert redaction.found == {kind: 1}


def test_every_shape_has_a_case_above() -> None:
    tested = {
        "private_key", "jwt", "aws_access_key", "aws_secret_key", "github_token",
        "slack_token", "stripe_key", "openai_key", "bearer", "url_password", "password",
        "api_key",
    }  # fmt: skip
    assert {shape.kind for shape in SHAPES} == tested


def test_several_secrets_are_counted_by_kind() -> None:
    text = f"{JWT} and {JWT} at postgres://u:pw@h/db"
    redaction = redact_secrets(text)
    assert redaction is not None
    assert redaction.found == {"jwt": 2, "url_password": 1}
    assert (
        redaction.text
        == "[REDACTED:jwt] and [REDACTED:jwt] at postgres://u:[REDACTED:url_password]@h/db"
    )


def test_offsets_hold_in_text_that_is_not_ascii() -> None:
    redaction = redact_secrets(f"clé: {JWT} — fin ✓")
    assert redaction is not None
    assert redaction.text == "clé: [REDACTED:jwt] — fin ✓"


@pytest.mark.parametrize(
    "text",
    [
        str(uuid.UUID(int=0x123E4567E89B12D3A456426614174000)),
        hashlib.sha256(b"x").hexdigest(),
        "sha1 " + hashlib.sha1(b"x").hexdigest(),
        "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 4).decode(),
        "Use Bearer authentication with a token from the console.",
        "pk_live_4eC39HqLyjWDarjtT1zdp7dc is a publishable key",
        "see https://example.com/path?page=2&sort=desc and mail ops@example.com",
        "user:password@ is how the URL form reads, without a scheme",
        "the password=... form and api_key=short are fine",
        "order 4111111111111111 shipped at 1733580000123",
        "task-identifier-abcdefghijklmnopqrstuvwxyz",
        "The desk-based AKIA team met in ASIA.",
        "an access_token: refreshed every hour, no value here",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_secrets(text) is None


def test_a_longer_run_after_the_aws_secret_name_is_not_a_secret_key() -> None:
    assert redact_secrets("secret_access_key=" + "a" * 41) is None


def test_a_secret_right_after_a_letter_that_is_not_ascii_is_found() -> None:
    # RE2 and the detectors' own expressions agree on word boundaries (ASCII ones).
    redaction = redact_secrets(f"ñ{JWT}")
    assert redaction is not None
    assert redaction.text == "ñ[REDACTED:jwt]"
