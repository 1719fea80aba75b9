"""The words the classifier knows: verbs, objects, description phrases, schema properties.

General vocabularies, never tool names: a verb says what a tool does to its object, an
object says what is at stake, a phrase in the description or a property in the input
schema adds or confirms evidence. All words are lower-case singular tokens as produced by
`callgate.classifier.tokens`.
"""

from __future__ import annotations

import re

from callgate.classifier.classification import Category

R, W, X, D, F = (
    Category.READ,
    Category.WRITE,
    Category.EXECUTE,
    Category.DESTRUCTIVE,
    Category.FINANCIAL,
)


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _words(category: Category, text: str) -> dict[str, Category]:
    return dict.fromkeys(text.split(), category)


# What a verb does to its object. Third-person and plural forms are folded by the
# tokenizer (`creates` -> `create`), so only the stem is listed.
VERBS: dict[str, Category] = {
    **_words(
        R,
        """get list read search find fetch retrieve describe show view query lookup look
        check count inspect browse explore discover introspect analyse analyze analyzes diff
        preview summarize summarise compare identify whoami ping poll tail echo explain
        suggest recommend calculate compute estimate convert translate parse lint verify
        load open access download export scan watch monitor sample resolve print render
        return see locate detect measure extract navigate capture screenshot peek
        visualize visualise status health validate diagnose troubleshoot think plan
        reflect""",
    ),
    **_words(
        W,
        """create add update edit set put post write modify patch insert upsert save store
        upload push send publish commit merge move rename copy assign unassign attach detach
        link unlink reply react star unstar follow unfollow subscribe unsubscribe enable
        disable configure apply import register replace append fix autofix deploy generate
        initialize init establish mark approve reject close reopen lock unlock archive
        unarchive restore rollback revert checkout switch stage unstage share invite grant
        transfer submit schedule reschedule sync click type fill press hover drag upvote
        downvote pin unpin mute unmute fork clone rotate renew reserve notify draft confirm
        accept decline dismiss tune scale resize reindex cancel toggle activate
        deactivate package compress decompress zip unzip associate disassociate bind unbind""",
    ),
    **_words(
        X,
        """run execute exec invoke call trigger eval evaluate launch start restart spawn
        dispatch test build compile shell bash terminal command script stop pause resume
        reboot interpret automate simulate rerun retry install""",
    ),
    **_words(
        D,
        """delete remove destroy drop wipe clear purge erase truncate terminate kill uninstall
        prune rm del discard obliterate nuke flush empty expunge shred deregister unregister
        revoke ban evict overwrite force_push reset_hard undeploy decommission cleanup clean
        drain""",
    ),
    **_words(F, """pay charge refund purchase buy sell bill invoice payout withdraw deposit"""),
}

# Verbs that say an action happens but not which: the object and the description decide.
GENERIC_VERBS = _set(
    """manage handle process do make complete prepare use operate work perform
    administer control"""
)

# Objects that make a tool financial whatever it does to them.
FINANCIAL_OBJECTS = _set(
    """payment invoice refund subscription billing bill payout price pricing cost budget
    charge wallet coupon discount tax fee purchase spend revenue ledger balance
    checkout"""
)

# Names of billing and payment platforms: a tool named after one acts on money.
PAYMENT_PLATFORMS = _set(
    """stripe paypal chargebee braintree adyen recurly paddle razorpay klarna mollie
    lemonsqueezy gocardless plaid"""
)

# Verb + object pairs that mean more than the verb alone: copying a container image into
# a registry runs a pull-and-push job, it does not just write a record.
COMPOUND_READINGS: dict[tuple[str, str], tuple[Category, str]] = {
    ("clone", "container"): (
        X,
        "clone + container: copies a container image by pulling and pushing it (a build/push job)",
    ),
    ("clone", "image"): (
        X,
        "clone + image: copies a container image by pulling and pushing it (a build/push job)",
    ),
    ("copy", "container"): (
        X,
        "copy + container: copies a container image by pulling and pushing it (a build/push job)",
    ),
    ("mirror", "container"): (
        X,
        "mirror + container: copies a container image by pulling and pushing it (a build/push job)",
    ),
    ("mirror", "image"): (
        X,
        "mirror + image: copies a container image by pulling and pushing it (a build/push job)",
    ),
    ("start", "workflow"): (X, "start + workflow: runs a workflow"),
    ("start", "run"): (X, "start + run: starts a run"),
    ("query", "sql"): (R, "query + sql: runs a database query"),
    # Opening a file or a node reads it; opening an issue or a ticket creates one.
    **{
        ("open", obj): (W, f"open + {obj.replace('_', ' ')}: creates one")
        for obj in ("issue", "pull_request", "merge_request", "ticket", "account", "case")
    },
}

# Description phrases that are strong evidence on their own, wherever they appear.
DESCRIPTION_PHRASES: tuple[tuple[re.Pattern[str], Category, str], ...] = (
    (
        re.compile(
            r"\b(permanently|irreversibl[ey]|cannot be undone|can ?not be recovered|"
            r"(deletes?|removes?|destroys?|wipes?|erases?|purges?|clears?) (all|every|the entire)|"
            r"destroys?|wipes?)\b"
        ),
        D,
        "the description speaks of irreversible removal",
    ),
    (
        re.compile(
            r"\b((execute|run)s? (an? |any |arbitrary )?(shell |terminal |system )?"
            r"(commands?|scripts?|code|programs?|javascript|python|bash)|arbitrary code|"
            r"shell commands?|code execution|(execute|run)s? (any|arbitrary|raw) "
            r"(sql|cypher|queries|statements?))\b"
        ),
        X,
        "the description says it runs commands, code or arbitrary queries",
    ),
    (
        re.compile(
            r"\b(charges? (a |the )?(card|customer)|(transfer|send|move)s? (money|funds)|"
            r"refunds? (a |the )?(payment|charge|order)|process(es)? (a |the )?payment|"
            r"pays? (an? |the )?(invoice|bill|order))\b"
        ),
        F,
        "the description says it moves money",
    ),
)

# Money topics in a description: they decide only when the name has no verb of its own
# ("pricing: Get retail pricing"), since a read tool may well mention "payment status".
MONEY_TOPIC = re.compile(
    r"\b(payments?|refunds?|invoices?|billing|payouts?|pricing|cost estimates?|"
    r"subscriptions?)\b"
)

# Claims that the tool only reads; they confirm a read reading and count against others.
READ_ONLY_PHRASE = re.compile(
    r"\b(read[- ]only|in read mode|does not (modify|change|write) (anything|any|data|state)|"
    r"without (making (any )?changes|side effects)|no side effects|non-destructive)\b"
)

# Input-schema properties (lower-case, exact names).
CODE_PROPERTIES = _set(
    "command cmd commands script code shell javascript js python program bash expression "
    "source_code snippet function_code"
)
STATEMENT_PROPERTIES = _set("sql statement statements cypher sql_query raw_query")
MONEY_PROPERTIES = _set("amount price total cost unit_amount amount_cents")
CURRENCY_PROPERTIES = _set("currency currency_code")
FORCE_PROPERTIES = _set("force recursive cascade purge hard permanent overwrite")
NETWORK_PROPERTIES = _set("url uri urls endpoint webhook webhook_url href")
PATH_PROPERTIES = _set("path paths file filename file_path directory dir folder")
