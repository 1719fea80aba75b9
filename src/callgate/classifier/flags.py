"""What a tool touches, whatever its effect: the flags of a classification. Pure.

A flag is set from the words of the name, the description's first paragraph and the
parameter names, from the annotations, and from what the category was decided on (a tool
that runs code touches code execution). Each flag comes with the reason it was set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from callgate.classifier.classification import Category, Flag
from callgate.classifier.lexicon import CODE_OBJECTS, RUN_NOUNS
from callgate.classifier.reading import ToolText


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


MONEY_WORDS = _set(
    """payment payments invoice invoices price prices pricing billing bill bills cost costs
    charge charges refund refunds payout payouts balance balances wallet wallets currency
    stock stocks trade trades trading crypto cryptocurrency coupon coupons discount
    discounts tax taxes fee fees revenue budget budgets spend spending fund funds money bank
    banking credit debit financial finance accounting ledger expense expenses payroll
    salary purchase purchases subscription subscriptions transaction transactions transfer
    transfers portfolio paypal stripe usd eur btc eth usdc paymentintent giftcard
    creditnote savings"""
)
CREDENTIAL_WORDS = _set(
    """password passwords passphrase secret secrets credential credentials apikey accesskey
    iam oauth mfa otp keypair sshkey privatekey certificate certificates cert certs kms vault
    passkey jwt bearer signingkey cookie role roles permission permissions acl"""
)
CREDENTIAL_PROPERTIES = _set(
    """password passphrase secret client_secret private_key privatekey api_key apikey
    access_token accesstoken secret_key token credentials"""
)
CREDENTIAL_PAIRS = (
    ("access", "key"),
    ("api", "key"),
    ("secret", "key"),
    ("private", "key"),
    ("ssh", "key"),
    ("signing", "key"),
    ("access", "token"),
    ("api", "token"),
    ("auth", "token"),
    ("personal", "token"),
    ("refresh", "token"),
    ("bearer", "token"),
    ("iam", "user"),
    ("service", "account"),
    ("encryption", "key"),
    ("deploy", "key"),
    ("user", "policy"),
    ("group", "policy"),
    ("access", "policy"),
    ("managed", "policy"),
    ("inline", "policy"),
)
PERSONAL_WORDS = _set(
    """customer customers contact contacts person people employee employees patient
    patients candidate candidates applicant applicants subscriber subscribers attendee
    attendees guest guests student students birthday birthdate ssn passport phone
    phone_number inbox mailbox email emails lead leads prospect prospects follower followers
    diagnosis prescription medical"""
)
INFRASTRUCTURE_WORDS = _set(
    """cluster clusters instance instances container containers pod pods namespace namespaces
    deployment deployments dns vpc subnet subnets firewall bucket buckets s3 lambda lambdas
    kubernetes k8s helm terraform cloudformation volume volumes loadbalancer cdn registry ecr
    ecs eks ec2 rds vm vms docker ingress kubectl droplet dyno dynos serverless
    infrastructure datacenter argo argocd database databases postgres postgresql mysql
    cloudwatch gcp production"""
)
WEB_WORDS = _set(
    """web internet url urls website websites webpage online http https search navigate
    browse"""
)
SEND_WORDS = _set("webhook webhooks")
BULK_WORDS = _set("batch bulk all many multiple mass")
BULK_PHRASE = re.compile(
    r"\b(?:all|every|entire|multiple|many|in bulk|batch|bulk|up to \d+|\d+\s*-\s*\d+)\b"
)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the flag rules look at: the name's words and the name with the first sentence."""

    text: ToolText
    category: Category
    runs_code: bool
    sends: bool
    name_words: frozenset[str]
    focus: frozenset[str]


def detect_flags(
    text: ToolText, category: Category, runs_code: bool, sends: bool
) -> tuple[tuple[Flag, str], ...]:
    """The flags of a tool with their reasons, in Flag order.

    Only the name, the description's first sentence and the parameter names count: a
    long description mentions everything.
    """
    name_words = frozenset(text.name_tokens)
    seen = _Seen(
        text, category, runs_code, sends, name_words, name_words | frozenset(text.lead_tokens)
    )
    found = ((flag, rule(seen)) for flag, rule in _RULES)
    return tuple((flag, reason) for flag, reason in found if reason is not None)


def _money(seen: _Seen) -> str | None:
    words = sorted(seen.focus & MONEY_WORDS)
    if seen.category is Category.FINANCIAL:
        return "it moves money"
    if words:
        return f"it deals with {_quote(words)}"
    names = seen.text.property_names
    if names & _MONEY_PROPERTIES and names & _CURRENCY:
        return "it takes an amount of money"
    return None


def _credentials(seen: _Seen) -> str | None:
    focus = seen.focus
    words = sorted(focus & CREDENTIAL_WORDS) + [
        f"{a} {b}" for a, b in CREDENTIAL_PAIRS if a in focus and b in focus
    ]
    if words:
        return f"it handles {_quote(words)}"
    secrets = sorted(seen.text.property_names & CREDENTIAL_PROPERTIES)
    return f"it takes secrets ({_quote(secrets)})" if secrets else None


def _personal_data(seen: _Seen) -> str | None:
    words = sorted(
        word
        for word in (seen.focus & PERSONAL_WORDS) | (seen.name_words & _PEOPLE)
        if not (word in _MAIL and seen.category is Category.EXECUTE)
        and not _names_a_setting(word, seen.text.name_tokens)
    )
    return f"it handles {_quote(words)}" if words else None


def _infrastructure(seen: _Seen) -> str | None:
    words = sorted(seen.focus & INFRASTRUCTURE_WORDS)
    return f"it acts on {_quote(words)}" if words else None


def _code_execution(seen: _Seen) -> str | None:
    if seen.runs_code or not seen.name_words.isdisjoint(RUN_NOUNS):
        return "it runs code, commands, queries or jobs"
    if seen.category is Category.EXECUTE and not seen.focus.isdisjoint(CODE_OBJECTS):
        return "it runs code or jobs"
    return None


def _external_comms(seen: _Seen) -> str | None:
    focus, name_words = seen.focus, seen.name_words
    if seen.sends:
        return "it sends to people or systems outside"
    if not focus.isdisjoint(_WEB_VERBS) and not focus.isdisjoint(WEB_WORDS - _WEB_VERBS):
        return "it makes requests to the web"
    if "git" in name_words and not name_words.isdisjoint(_REMOTE_GIT):
        return "it talks to a remote repository"
    if seen.category is not Category.READ and not name_words.isdisjoint(SEND_WORDS):
        return f"it acts on {_quote(sorted(name_words & SEND_WORDS))}"
    return None


def _bulk(seen: _Seen) -> str | None:
    if seen.category is Category.READ:
        return None  # reading many objects is not acting on them
    words = sorted(seen.name_words & BULK_WORDS)
    if words:
        return f"it acts on many objects at once ({_quote(words)})"
    phrase = BULK_PHRASE.search(" ".join(seen.text.lead_tokens[:8]))
    if phrase is not None:
        return f"it acts on many objects at once ('{phrase.group(0)}')"
    recursive = sorted(seen.text.property_names & _RECURSIVE)
    return f"it can act recursively ({_quote(recursive)})" if recursive else None


def _open_world(seen: _Seen) -> str | None:
    if seen.text.annotations.get("openWorldHint") is True:
        return "the server marks it as reaching an open world (openWorldHint)"
    network = sorted(seen.text.property_names & _NETWORK)
    return f"the caller picks the address ({_quote(network)})" if network else None


_RULES: tuple[tuple[Flag, Callable[[_Seen], str | None]], ...] = (
    (Flag.MONEY, _money),
    (Flag.CREDENTIALS, _credentials),
    (Flag.PERSONAL_DATA, _personal_data),
    (Flag.INFRASTRUCTURE, _infrastructure),
    (Flag.CODE_EXECUTION, _code_execution),
    (Flag.EXTERNAL_COMMS, _external_comms),
    (Flag.BULK, _bulk),
    (Flag.OPEN_WORLD, _open_world),
)


def _quote(words: Iterable[str]) -> str:
    return ", ".join(f"'{word}'" for word in list(words)[:4])


_PEOPLE = _set("user users identity identities")
_WEB_VERBS = _set("fetch navigate browse crawl scrape search")
_REMOTE_GIT = _set("push pull clone fetch")
_MAIL = _set("email emails")
_SETTING_HEADS = _set(
    "property properties import imports point points template templates metric metrics"
)


def _names_a_setting(word: str, tokens: tuple[str, ...]) -> bool:
    """`contact_property`, `email_template`: the word names a setting, not a person."""
    return any(
        token == word and index + 1 < len(tokens) and tokens[index + 1] in _SETTING_HEADS
        for index, token in enumerate(tokens)
    )


_NETWORK = _set(
    """url uri urls endpoint webhook webhook_url href host hostname base_url target_url
    website domain remote_url api_url callback_url"""
)
_MONEY_PROPERTIES = _set("amount price unit_amount amount_cents notional")
_CURRENCY = _set("currency currency_code")
_RECURSIVE = _set("recursive recurse")
