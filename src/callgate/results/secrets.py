"""Secrets in tool results, found by the shape of their value and replaced (pure).

Each shape has a kind, the name in its marker: a secret of kind `jwt` becomes
`[REDACTED:jwt]`. Where a shape has a name and a value (`password=hunter2`, a URL's
password, `Authorization: Bearer ...`), only the value is replaced, so the reader keeps the
context: `postgres://app:[REDACTED:url_password]@db:5432/orders`.

    kind                what                                                   replaced
    private_key         a PEM private key, BEGIN to END (or to the end)        all of it
    jwt                 three base64url parts, the first two JSON (`eyJ`)      all of it
    aws_access_key      AKIA/ASIA/ABIA/ACCA + 16 (an AWS access key id)        all of it
    aws_secret_key      40 characters after `aws_secret_access_key=`           the value
    github_token        ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_...          all of it
    slack_token         xoxb-/xoxp-/xoxa-/xoxo-/xoxs-/xoxr- tokens             all of it
    stripe_key          sk_live_/sk_test_/rk_live_/rk_test_ secret keys        all of it
    openai_key          sk-... and sk-proj-... (20 or more, with a digit)      all of it
    bearer              `Bearer <16 or more, letters and digits>`              the token
    url_password        `scheme://user:PASSWORD@host` (also `redis://:pw@`)    the password
    password            `password=`, `pwd=`, `passwd=` (JDBC, ODBC, query)     the value
    api_key             `api_key=`, `access_token:`, `client_secret=` ... with  the value
                        16 or more characters, one of them a digit

Publishable keys (`pk_live_`), UUIDs, hex digests and base64 data have none of these
shapes. Card numbers, which the audit log's argument redaction also replaces, are left
alone here: in results, order and account ids and millisecond timestamps of the same
length pass the Luhn check one time in ten.

Finding is one pass of one RE2 expression (`callgate.results.scanner`: linear in the text,
whatever the number of shapes), so a text without secrets costs one scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from callgate.results.scanner import Detector, Hit, Scanner

MARKER: Final = "[REDACTED:{kind}]"
"""What replaces a secret: `[REDACTED:jwt]`."""

_TOKEN_CHARS = r"[A-Za-z0-9_\-./+=~]"


_END_LINE = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY-----")


def _to_end_line(text: str, end: int) -> int:
    """The end of a PEM key's END line, else of its string (strings scanned together are
    joined with a NUL)."""
    stop = text.find("\x00", end)
    stop = len(text) if stop < 0 else stop
    line = _END_LINE.search(text, end, stop)
    return stop if line is None else line.end()


def _has_letter_or_digit(secret: str, text: str, end: int) -> bool:
    # `password=...` or `password=***` is a placeholder, not a password.
    return any(char.isalnum() for char in secret)


def _has_digit(secret: str, text: str, end: int) -> bool:
    return any(char.isdigit() for char in secret)


def _letters_and_digits(secret: str, text: str, end: int) -> bool:
    return _has_digit(secret, text, end) and any(char.isalpha() for char in secret)


def _ends_at_40(secret: str, text: str, end: int) -> bool:
    # An AWS secret key is exactly 40 characters: a longer run is something else.
    return end >= len(text) or not (text[end].isalnum() or text[end] in "/+=")


SHAPES: Final[tuple[Detector, ...]] = (
    Detector("private_key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----", extend=_to_end_line),
    Detector("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    Detector("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    Detector(
        "aws_secret_key",
        r"(?i:aws_?secret_?access_?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?"
        r"([A-Za-z0-9/+=]{40})",
        value_only=True,
        accept=_ends_at_40,
    ),
    Detector("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,})"),
    Detector("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    Detector("stripe_key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    Detector(
        "openai_key",
        r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}",
        accept=lambda secret, text, end: _letters_and_digits(secret[3:], text, end),
    ),
    Detector(
        "bearer",
        r"\b(?i:bearer)\s+([A-Za-z0-9_\-.~+/]{16,}=*)",
        value_only=True,
        accept=_letters_and_digits,
    ),
    Detector("url_password", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@", True),
    Detector(
        "password",
        r"\b(?i:password|passwd|pwd)=([^;&\s\"',]+)",
        value_only=True,
        accept=_has_letter_or_digit,
    ),
    Detector(
        "api_key",
        r"\b(?i:api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|secret[_-]?key)"
        r"[\"']?\s*[:=]\s*[\"']?(" + _TOKEN_CHARS + r"{16,})",
        value_only=True,
        accept=_has_digit,
    ),
)


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with its secrets replaced, and how many of each kind were."""

    text: str
    found: dict[str, int]


SECRETS: Final = Scanner(SHAPES)
"""Every shape in `SHAPES`, in one expression."""


def replace_hits(text: str, hits: Iterable[Hit]) -> Redaction | None:
    """`text` with each hit replaced by its marker; None when there is none."""
    pieces: list[str] = []
    found: dict[str, int] = {}
    done = 0
    for hit in hits:
        pieces.append(text[done : hit.start])
        pieces.append(MARKER.format(kind=hit.kind))
        done = hit.end
        found[hit.kind] = found.get(hit.kind, 0) + 1
    if not found:
        return None
    pieces.append(text[done:])
    return Redaction("".join(pieces), found)


def redact_secrets(text: str) -> Redaction | None:
    """`text` with every secret replaced by `[REDACTED:<kind>]`; None when it has none."""
    return replace_hits(text, SECRETS.scan(text))
