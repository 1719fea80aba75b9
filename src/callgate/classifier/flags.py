"""What a tool touches, whatever its effect: the flags of a classification. Pure.

A flag is set from the words of the name, the description's first paragraph and the
parameter names, from the annotations, and from what the category was decided on (a tool
that runs code touches code execution). Each flag comes with the reason it was set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    infrastructure datacenter argo argocd"""
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


def detect_flags(
    text: ToolText, category: Category, runs_code: bool, sends: bool
) -> tuple[tuple[Flag, str], ...]:
    """The flags of a tool with their reasons, in Flag order.

    Only the name, the description's first sentence and the parameter names count: a
    long description mentions everything.
    """
    name_words = frozenset(text.name_tokens)
    focus = name_words | frozenset(text.lead_tokens)
    found: dict[Flag, str] = {}
    money_words = sorted(focus & MONEY_WORDS)
    if category is Category.FINANCIAL:
        found[Flag.MONEY] = "it moves money"
    elif money_words:
        found[Flag.MONEY] = f"it deals with {_quote(money_words)}"
    elif text.property_names & _MONEY_PROPERTIES and text.property_names & _CURRENCY:
        found[Flag.MONEY] = "it takes an amount of money"
    credentials = sorted(focus & CREDENTIAL_WORDS) + [
        f"{a} {b}" for a, b in CREDENTIAL_PAIRS if a in focus and b in focus
    ]
    secret_args = sorted(text.property_names & CREDENTIAL_PROPERTIES)
    if credentials:
        found[Flag.CREDENTIALS] = f"it handles {_quote(credentials)}"
    elif secret_args:
        found[Flag.CREDENTIALS] = f"it takes secrets ({_quote(secret_args)})"
    personal = sorted(focus & PERSONAL_WORDS)
    if personal:
        found[Flag.PERSONAL_DATA] = f"it handles {_quote(personal)}"
    infrastructure = sorted(focus & INFRASTRUCTURE_WORDS)
    if infrastructure:
        found[Flag.INFRASTRUCTURE] = f"it acts on {_quote(infrastructure)}"
    if runs_code or not name_words.isdisjoint(RUN_NOUNS):
        found[Flag.CODE_EXECUTION] = "it runs code, commands, queries or jobs"
    elif category is Category.EXECUTE and not focus.isdisjoint(CODE_OBJECTS):
        found[Flag.CODE_EXECUTION] = "it runs code or jobs"
    network = sorted(text.property_names & _NETWORK)
    open_world = text.annotations.get("openWorldHint") is True
    if sends:
        found[Flag.EXTERNAL_COMMS] = "it sends to people or systems outside"
    elif (network or open_world) and not focus.isdisjoint(WEB_WORDS):
        found[Flag.EXTERNAL_COMMS] = "it makes requests to the web"
    elif category is not Category.READ and not name_words.isdisjoint(SEND_WORDS):
        found[Flag.EXTERNAL_COMMS] = f"it acts on {_quote(sorted(name_words & SEND_WORDS))}"
    if category is not Category.READ:
        bulk = sorted(name_words & BULK_WORDS)
        phrase = BULK_PHRASE.search(" ".join(text.lead_tokens[:8]))
        recursive = sorted(text.property_names & _RECURSIVE)
        if bulk:
            found[Flag.BULK] = f"it acts on many objects at once ({_quote(bulk)})"
        elif phrase is not None:
            found[Flag.BULK] = f"it acts on many objects at once ('{phrase.group(0)}')"
        elif recursive:
            found[Flag.BULK] = f"it can act recursively ({_quote(recursive)})"
    if open_world:
        found[Flag.OPEN_WORLD] = "the server marks it as reaching an open world (openWorldHint)"
    elif network:
        found[Flag.OPEN_WORLD] = f"the caller picks the address ({_quote(network)})"
    return tuple((flag, found[flag]) for flag in Flag if flag in found)


def _quote(words: Iterable[str]) -> str:
    return ", ".join(f"'{word}'" for word in list(words)[:4])


_NETWORK = _set(
    """url uri urls endpoint webhook webhook_url href host hostname base_url target_url
    website domain remote_url api_url callback_url"""
)
_MONEY_PROPERTIES = _set("amount price unit_amount amount_cents notional")
_CURRENCY = _set("currency currency_code")
_RECURSIVE = _set("recursive recurse")
