"""What of a call's arguments the audit log keeps (pure).

The policy's `audit.arguments` chooses:

    hash       only `arguments_hmac`, the keyed hash of the arguments' canonical JSON
    redacted   the arguments with their structure, secrets replaced (the default)
    full       the arguments as sent

Every mode keeps `arguments_hmac`, so two calls with the same arguments can be matched.
`redacted` replaces
- the value of every key whose name says it holds a secret: the key's words (split at
  `_`, `-`, `.`, spaces and camelCase, lower-cased) contain one of the secret names as
  consecutive words, so `api_key`, `X-Api-Key` and `apiKey` all match "api key" while
  `max_tokens` does not match "token"; the names are `SECRET_KEY_NAMES` plus the policy's
  `audit.redact_keys`;
- inside every string, whatever has the shape of a secret: bearer tokens (8 characters
  or more after `Bearer`), JWTs, AWS access key ids and secret keys written as
  `aws_secret_access_key=...`, PEM private keys, the password of a URL
  (`scheme://user:PASSWORD@host`), and card numbers (13 to 19 digits, spaces or dashes
  allowed) that pass the Luhn check; whole numbers too.
`redacted` lists the JSON Pointer (RFC 6901) of every value it changed, so a reader (and
policy replay) knows which values are not what the agent sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callgate.audit.record import hash_arguments

REDACTED = "[redacted]"
MAX_DEPTH = 64
"""Values nested deeper than this are replaced whole: they cannot be checked cheaply."""

SECRET_KEY_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "credential",
    "credentials",
    "cookie",
)
"""Key names whose values are always redacted (matched word by word, see the module doc)."""


class ArgumentsMode(StrEnum):
    """How much of a call's arguments the audit log keeps."""

    HASH = "hash"
    REDACTED = "redacted"
    FULL = "full"


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def key_words(name: str) -> tuple[str, ...]:
    """A key's words, lower-cased: `X-Api-Key` and `apiKey` give `("x", "api", "key")`."""
    return tuple(word.lower() for word in _WORD.findall(name))


_SHAPES: tuple[tuple[str, re.Pattern[str], int], ...] = (
    # (name, pattern, group to replace; 0 = the whole match)
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|$)"
        ),
        0,
    ),
    ("bearer", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)"), 1),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), 0),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"), 0),
    (
        "aws_secret_key",
        re.compile(
            r"(?i)secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        1,
    ),
    ("url_password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@"), 1),
)
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def passes_luhn(digits: str) -> bool:
    """The Luhn checksum of a string of digits (what card numbers carry)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _is_card(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and passes_luhn(digits)


def redact_text(text: str) -> str:
    """`text` with every secret-shaped part replaced by `[redacted:<shape>]`."""
    for name, pattern, group in _SHAPES:
        if group == 0:
            text = pattern.sub(f"[redacted:{name}]", text)
        else:
            text = pattern.sub(_replace_group(group, name), text)
    return _CARD.sub(_card, text)


def _replace_group(group: int, name: str) -> Any:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
        return f"{whole[:start]}[redacted:{name}]{whole[end:]}"

    return replace


def _card(match: re.Match[str]) -> str:
    return "[redacted:card]" if _is_card(match.group(0)) else match.group(0)


def _pointer_part(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Redactor:
    """Replaces secrets in argument values; built once per policy."""

    key_names: tuple[str, ...] = SECRET_KEY_NAMES
    _phrases: tuple[tuple[str, ...], ...] = field(init=False, repr=False)
    _secret_keys: dict[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phrases = tuple(dict.fromkeys(words for n in self.key_names if (words := key_words(n))))
        object.__setattr__(self, "_phrases", phrases)
        object.__setattr__(self, "_secret_keys", {})

    def is_secret_key(self, name: str) -> bool:
        """Whether a value under key `name` is redacted whole."""
        known = self._secret_keys.get(name)
        if known is None:
            words = key_words(name)
            known = any(_contains(words, phrase) for phrase in self._phrases)
            if len(self._secret_keys) < 10_000:  # bounded: keys come from agents
                self._secret_keys[name] = known
        return known

    def redact(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The arguments with secrets replaced, and the JSON Pointer of each replaced value."""
        paths: list[str] = []
        redacted = self._mapping(arguments, "", 0, paths)
        return redacted, paths

    def _mapping(
        self, value: Mapping[str, Any], path: str, depth: int, paths: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}/{_pointer_part(key)}"
            if item is not None and not isinstance(item, bool) and self.is_secret_key(str(key)):
                out[key] = REDACTED
                paths.append(where)
            else:
                out[key] = self._value(item, where, depth + 1, paths)
        return out

    def _value(self, value: Any, path: str, depth: int, paths: list[str]) -> Any:
        if isinstance(value, str):
            cleaned = redact_text(value)
            if cleaned != value:
                paths.append(path)
            return cleaned
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            if 10**12 <= abs(value) < 10**19 and passes_luhn(str(abs(value))):
                paths.append(path)
                return "[redacted:card]"
            return value
        if depth >= MAX_DEPTH:
            paths.append(path)
            return "[redacted:depth]"
        if isinstance(value, Mapping):
            return self._mapping(value, path, depth, paths)
        if isinstance(value, list | tuple):
            return [
                self._value(item, f"{path}/{index}", depth + 1, paths)
                for index, item in enumerate(value)
            ]
        return value


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(words[i : i + size] == phrase for i in range(len(words) - size + 1))


@dataclass(frozen=True)
class ArgumentRecording:
    """The policy's `audit:` choice, compiled: what to write for a call's arguments."""

    mode: ArgumentsMode = ArgumentsMode.REDACTED
    redactor: Redactor = field(default_factory=Redactor)

    def fields(self, arguments: Mapping[str, Any], key: bytes) -> dict[str, Any]:
        """The record fields for `arguments`: their hash, and their redacted or full form."""
        fields: dict[str, Any] = {"arguments_hmac": hash_arguments(arguments, key) if key else None}
        if self.mode is ArgumentsMode.FULL:
            fields["arguments"] = arguments
        elif self.mode is ArgumentsMode.REDACTED:
            fields["arguments"], fields["redacted"] = self.redactor.redact(arguments)
        return fields


def compile_recording(mode: str, redact_keys: Iterable[str] = ()) -> ArgumentRecording:
    """The recording for a policy's `audit.arguments` and extra `audit.redact_keys`."""
    extra = tuple(redact_keys)
    redactor = Redactor((*SECRET_KEY_NAMES, *extra)) if extra else DEFAULT_REDACTOR
    return ArgumentRecording(ArgumentsMode(mode), redactor)


DEFAULT_REDACTOR = Redactor()
DEFAULT_RECORDING = ArgumentRecording(ArgumentsMode.REDACTED, DEFAULT_REDACTOR)
