"""Splitting tool names and descriptions into normalised word tokens.

Names come in every style (`CloneContainerToECR`, `delete_file`, `drop-database`,
`aws_s3_put_object`, `Run-Funnels-Query`); all of them become the same lower-case words.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

# An acronym before a capitalised word (`ECRImage` -> `ECR`, `Image`), a capitalised or
# lower-case word that may carry digits (`n8n`, `s3`), or a run of capitals and digits.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z0-9]+")
_PROSE_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

# Two-word nouns whose first word is also a verb: `get_merge_request` reads a merge
# request, it does not merge anything.
_COMPOUND_NOUNS = {
    ("pull", "request"): "pull_request",
    ("merge", "request"): "merge_request",
    ("code", "scanning"): "code_scanning",
    ("run", "book"): "runbook",
    ("work", "item"): "workitem",
    ("call", "back"): "callback",
    ("check", "out"): "checkout",
    ("look", "up"): "lookup",
    ("credit", "note"): "creditnote",
    ("gift", "card"): "giftcard",
    ("payment", "intent"): "paymentintent",
    ("payment", "link"): "paymentlink",
    ("purchase", "order"): "purchaseorder",
    ("virtual", "card"): "paymentcard",
    ("physical", "card"): "paymentcard",
    ("credit", "card"): "paymentcard",
    ("debit", "card"): "paymentcard",
    ("spend", "limit"): "spendlimit",
    ("power", "cycle"): "powercycle",
    ("take", "profit"): "takeprofit",
    ("stop", "loss"): "stoploss",
}


@lru_cache(maxsize=16384)
def singular(word: str) -> str:
    """A rough singular (or third-person stem): `invoices` -> `invoice`, `creates` -> `create`."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


_COMPOUND_HEADS = frozenset(first for first, _ in _COMPOUND_NOUNS)


def _join_compounds(words: list[str]) -> tuple[str, ...]:
    if _COMPOUND_HEADS.isdisjoint(words):
        return tuple(words)
    joined: list[str] = []
    index = 0
    while index < len(words):
        pair = (words[index], words[index + 1]) if index + 1 < len(words) else None
        if pair is not None and pair in _COMPOUND_NOUNS:
            joined.append(_COMPOUND_NOUNS[pair])
            index += 2
        else:
            joined.append(words[index])
            index += 1
    return tuple(joined)


@lru_cache(maxsize=16384)
def plural_words(name: str) -> frozenset[str]:
    """The singular forms of a name's words that were written in the plural (`messages`)."""
    found = set()
    for match in _WORD.findall(name):
        word = match.lower()
        base = singular(word)
        if base != word:
            found.add(base)
    return frozenset(found)


@lru_cache(maxsize=65536)
def split_name(name: str) -> tuple[str, ...]:
    """The lower-case, singular word tokens of a tool name in any naming style."""
    words = [singular(match.lower()) for match in _WORD.findall(name)]
    return _join_compounds(words)


def split_prose(text: str, limit: int | None = None) -> tuple[str, ...]:
    """The lower-case, singular word tokens of a description (the first `limit` only)."""
    matches = _PROSE_WORD.finditer(text.lower())
    words = [singular(match.group()) for match in itertools.islice(matches, limit)]
    return _join_compounds(words)
