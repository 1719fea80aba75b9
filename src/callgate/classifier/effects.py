"""What one call does, from a verb and its objects: the taxonomy's decisions in one place.

`effect_of(verb, objects, context)` answers with a category, the meaning in words and the
number of the borderline decision it applies (docs/classifier.md lists them). The
category is the call's *effect*, never its topic: `get` + `invoice` reads, `send` +
`invoice` asks for money, `cancel` + `job` stops work that can be started again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callgate.classifier.classification import Category, D, F, R, W, X
from callgate.classifier.lazy import lazy_property
from callgate.classifier.lexicon import (
    AGREEMENT_OBJECTS,
    ANALYTICS_WORDS,
    APPLY_OBJECTS,
    APPLY_WRITE_OBJECTS,
    BILLING_WORDS,
    BUILD_TEXT_OBJECTS,
    CHAIN_WORDS,
    CODE_OBJECTS,
    CONTENT_OBJECTS,
    DATABASE_WORDS,
    DRIVE_CONTEXT,
    EXPRESSION_OBJECTS,
    IMAGE_OBJECTS,
    INSTALL_OBJECTS,
    INTERNAL_OBJECTS,
    JOB_OBJECTS,
    MESSAGE_OBJECTS,
    MESSAGING_WORDS,
    MODEL_OBJECTS,
    MONEY_MOVING_OBJECTS,
    NON_BILLING_SUBSCRIPTION_WORDS,
    NON_MESSAGE_HEADS,
    NON_MONEY_HEADS,
    ORDER_OBJECTS,
    PAYMENT_WORDS,
    POINTER_OBJECTS,
    QUERY_LANGUAGES,
    RECORDING_OBJECTS,
    REPORT_OBJECTS,
    STRONG_TRADING_WORDS,
    TEST_READ_OBJECTS,
    TEST_RUN_OBJECTS,
    TRADING_WORDS,
    VERBS,
    VerbKind,
    words,
)


@dataclass(frozen=True, slots=True)
class Effect:
    """The category of one action, what it means, and the taxonomy decision applied."""

    category: Category
    meaning: str
    rule: int | None = None
    runs_code: bool = False
    """The call runs code, commands, queries or jobs (the `code_execution` flag)."""

    def cite(self) -> str:
        """The meaning with its rule: 'sends a message: sending is execute (rule 4)'."""
        return f"{self.meaning} (rule {self.rule})" if self.rule is not None else self.meaning


class Context:
    """The words around an action (name, description summary, parameter names).

    Some verbs and objects mean different things on different servers: an order trades on
    an exchange and is a record in a shop; `type` drives a browser and is a noun elsewhere.
    """

    def __init__(
        self,
        words: Iterable[str],
        *,
        read_only: bool = False,
        dml: bool = False,
        lead: Iterable[str] = (),
    ) -> None:
        self.words = frozenset(words)
        self.lead = frozenset(lead)
        self.read_only = read_only
        self.dml = dml

    @lazy_property
    def drives(self) -> bool:
        """A browser, a phone or a desktop is being driven."""
        return not self.words.isdisjoint(DRIVE_CONTEXT)

    @lazy_property
    def trades(self) -> bool:
        """Orders here buy or sell assets."""
        return (
            not self.words.isdisjoint(STRONG_TRADING_WORDS) or len(self.words & TRADING_WORDS) >= 2
        )

    @lazy_property
    def pays(self) -> bool:
        """Payment words are around (an order here is a payment object)."""
        return not self.words.isdisjoint(PAYMENT_WORDS)

    @lazy_property
    def bills(self) -> bool:
        """Nothing says a subscription here is a notification, topic or feed (rule 1)."""
        return not self.words.isdisjoint(BILLING_WORDS) or self.words.isdisjoint(
            NON_BILLING_SUBSCRIPTION_WORDS
        )

    @lazy_property
    def chain(self) -> bool:
        """A blockchain is the subject: its transactions cannot be undone."""
        # A bare `contract` is as often a service agreement as a smart contract.
        return not self.words.isdisjoint(CHAIN_WORDS) or {"smart", "contract"} <= self.words

    @lazy_property
    def messaging(self) -> bool:
        """Email, chat or SMS is the subject: a reply reaches people."""
        return not self.words.isdisjoint(MESSAGING_WORDS)

    @lazy_property
    def analytics(self) -> bool:
        """The name or first sentence queries analytics, logs or metrics (rule 8: read)."""
        return not self.lead.isdisjoint(ANALYTICS_WORDS)

    @lazy_property
    def database(self) -> bool:
        """A database is the subject (a transaction here is not money)."""
        return not self.words.isdisjoint(DATABASE_WORDS)


def money_object(
    objects: frozenset[str], context: Context, order: tuple[str, ...] = ()
) -> str | None:
    """The object that makes an action move money, if any (rule 1: topic is not effect).

    `order` is the objects in name order: a money word followed by a setting noun
    (`payment_account`, `subscription_plan`) names the setting, not a payment.
    """
    if "draft" in objects:
        return None  # a draft charges no one until it is sent or finalized
    for word in sorted(objects & MONEY_MOVING_OBJECTS):
        if _modifies(word, order, NON_MONEY_HEADS):
            continue
        if word == "subscription" and not context.bills:
            continue  # a notification or topic subscription (rule 1)
        if word in ("transaction", "commit") and context.database and not context.pays:
            continue  # a database transaction
        if word in ("transfer", "capture", "authorization") and not context.pays:
            continue  # transfer ownership, capture a screenshot, OAuth authorization
        if word in ("fund", "funds", "tip", "bill", "credit", "debit") and not context.pays:
            continue
        return word
    if not objects.isdisjoint(ORDER_OBJECTS) and not _modifies("order", order, NON_MONEY_HEADS):
        return "order"
    return None


def _modifies(word: str, order: tuple[str, ...], heads: frozenset[str]) -> bool:
    """True when `word` is directly followed by one of `heads` in `order`."""
    for index, token in enumerate(order[:-1]):
        if token == word and order[index + 1] in heads:
            return True
    return False


def query_effect(context: Context) -> Effect:
    """A tool that runs queries or statements (rule 8)."""
    if context.read_only:
        return Effect(R, "runs queries it says are read-only", 8)
    if context.dml:
        return Effect(D, "exists to run statements that modify or delete data", 8)
    if context.analytics:
        return Effect(R, "runs an analytics, log or metrics query, which only reads", 8)
    return Effect(X, "runs queries or statements that can write", 8, runs_code=True)


def message_object(objects: frozenset[str], order: tuple[str, ...]) -> str | None:
    """The message a send-like verb delivers (`email`, not `email_address`).

    With `order`, only its first three words are the verb's object (`create contact points
    for alert notifications` creates contact points, not notifications).
    """
    candidates = (
        [w for w in order[:3] if w in MESSAGE_OBJECTS]
        if order
        else sorted(objects & MESSAGE_OBJECTS)
    )
    for word in candidates:
        at = order.index(word) if word in order else -1
        # `alert grouping setting`, `email address`: a head noun follows within two words.
        if at < 0 or not NON_MESSAGE_HEADS.intersection(order[at + 1 : at + 3]):
            return word
    return None


def effect_of(
    verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...] = ()
) -> Effect | None:
    """The effect of `verb` done to `objects`; None for a generic verb (`manage`).

    `order` is the words around the verb in their order (for `payment_account`).
    """
    kind = VERBS.get(verb)
    if kind is None or kind is VerbKind.GENERIC:
        return None
    return _JUDGES[kind](verb, objects, context, order)


def _read(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if verb == "generate" and not objects.isdisjoint({"key", "apikey", "token", "password"}):
        return Effect(W, f"'{verb}' a credential creates one")
    if verb == "capture" and money_object(objects, context, order) is not None:
        return Effect(F, "capturing a payment takes the money")
    if verb == "test" and _tests_by_running(objects, context):
        return Effect(X, f"'{verb}' runs what it tests", runs_code=True)
    if verb == "evaluate" and not context.words.isdisjoint(CODE_OBJECTS):
        return Effect(X, "evaluating code runs it", runs_code=True)
    if verb == "query" and not context.words.isdisjoint(QUERY_LANGUAGES):
        return query_effect(context)
    if verb == "fetch" and "git" in context.words:
        return Effect(W, "a git fetch updates the repository's refs")
    if verb == "snapshot" and not objects.isdisjoint(_SERVICES | {"volume", "disk", "droplet"}):
        return Effect(W, "taking a snapshot of a server or volume creates one")
    if verb == "resolve" and not objects.isdisjoint(_DISCUSSIONS):
        return Effect(W, "resolving a thread or an incident changes its state")
    if verb in ("format", "convert") and not objects.isdisjoint(_DOCUMENT_PARTS):
        return Effect(W, f"'{verb}' changes the document or writes a new file")
    if verb in ("generate", "simulate", "preview", "estimate", "plan", "diff", "validate"):
        return Effect(R, f"'{verb}' only computes a result for the caller", 6)
    return Effect(R, f"'{verb}' only retrieves or computes")


# `deployment_status`, `deployment_key`: a part of a deployment, not a deploy.
# Creating one of these starts it (a build compiles, a run executes); the word is the
# object's head, so `create_build_config` is not one.
_STARTED_WORK = words(
    """build builds run runs execution executions invocation prediction predictions
    training trainings"""
)
_DEPLOYMENT_PARTS = words(
    """record records status statuses key keys config configuration setting settings
    protection rule rules environment log logs history branch note notes asset assets"""
)
_DISCUSSIONS = words(
    """comment comments thread threads issue issues incident incidents alert alerts
    conversation ticket discussion"""
)
_DOCUMENT_PARTS = words(
    """text table cell paragraph document range heading row column sheet slide shape chart
    pdf docx file footnote"""
)


def _tests_by_running(objects: frozenset[str], context: Context) -> bool:
    if not objects.isdisjoint(TEST_READ_OBJECTS):
        return False
    return not objects.isdisjoint(TEST_RUN_OBJECTS) or not context.words.isdisjoint(
        {"trigger", "execute", "execution", "run"}
    )


# Verbs that create or change an object; with a money object they charge or pay.
_MONEY_WRITES = words(
    """create add issue post submit place initiate make open book order approve confirm
    finalize complete update edit modify patch set upgrade renew schedule reschedule checkout
    accept resume activate record"""
)


def _write(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if verb == "select" and (context.database or "query" in context.words) and not context.drives:
        return Effect(R, "a SELECT only reads", 8)
    money = money_object(objects, context, order)
    if context.trades and not objects.isdisjoint(_POSITIONS) and verb in _TRADES:
        return Effect(F, f"'{verb}' a trading position or order trades")
    if money == "order" and verb not in _ORDERING:
        money = None  # updating an order's address or status moves no money
    if money is not None and verb in _MONEY_WRITES:
        return Effect(F, f"'{verb}' + '{money}' creates or changes what charges or pays")
    if verb in ("issue", "grant") and (
        not objects.isdisjoint({"credit", "credits", "voucher", "vouchers"})
        or {"gift", "card"} <= objects
    ):
        return Effect(F, f"'{verb}' a credit or gift card hands out money's worth")
    if (
        verb == "sync"
        and not objects.isdisjoint({"app", "apps", "application", "applications"})
        and not context.words.isdisjoint(_GITOPS)
    ):
        return Effect(X, "syncing an application applies its manifests: it deploys", 5)
    if verb == "approve" and not objects.isdisjoint({"spending", "allowance", "spend"}):
        return Effect(F, "approving a spending allowance lets another party take funds")
    if (
        context.chain
        and verb in ("create", "register", "write", "deploy", "sign", "submit")
        and not objects.isdisjoint({"contract", "token", "nft", "agent", "transaction", "tx"})
    ):
        return Effect(X, f"'{verb}' on a blockchain sends a transaction that cannot be undone")
    if verb in ("create", "add", "post", "compose", "schedule", "submit"):
        message = message_object(objects, order)
        drafts = "draft" in context.words
        if message is not None and objects.isdisjoint(INTERNAL_OBJECTS) and not drafts:
            return Effect(X, f"'{verb}' a {message} delivers it: sending is execute", 4)
    if verb == "post" and not objects.isdisjoint({"status", "update", "story", "thread"}):
        return Effect(X, "posting publishes to people: sending is execute", 4)
    if verb in ("clone", "copy", "mirror") and not objects.isdisjoint(IMAGE_OBJECTS):
        return Effect(X, "clones a container image: pulls it and pushes it to a registry", 5)
    if context.drives:
        if (
            verb in _DEVICE_SWITCHES
            and not objects.isdisjoint(_APPLIANCES)
            and not context.words.isdisjoint(_HOME)
        ):
            return Effect(X, f"'{verb}' a device acts on the physical world", 7)
        if verb in (
            "accept",
            "dismiss",
            "confirm",
            "decline",
            "set",
            "change",
        ) and not objects.isdisjoint(POINTER_OBJECTS | {"alert", "prompt"}):
            return Effect(X, f"'{verb}' a dialog drives the page or device", 7)
        if verb == "move" and not objects.isdisjoint(POINTER_OBJECTS | {"focus"}):
            return Effect(X, "moving the mouse drives the page", 7)
        if verb in ("close", "open", "select", "upload", "switch"):
            if verb == "open" and not objects.isdisjoint({"file", "node", "document", "doc"}):
                return Effect(R, "opening a file or node reads it")
            return Effect(X, f"'{verb}' in a browser or on a device drives it", 7)
    if verb == "open" and objects.isdisjoint(
        {
            "issue",
            "pull_request",
            "merge_request",
            "ticket",
            "account",
            "case",
            "pr",
            "mr",
            "position",
            "channel",
            "conversation",
            "dm",
            "session",
            "incident",
        }
    ):
        return Effect(R, "opening reads what is opened")
    if verb == "download":
        return Effect(W, "downloading saves what it fetches into a local file", 6)
    if (
        verb in ("create", "update")
        and order[:1] in (("deployment",), ("release",))
        and _DEPLOYMENT_PARTS.isdisjoint(order[1:2])
    ):
        return Effect(X, f"'{verb}' a {order[0]} deploys or publishes it", 5)
    if (
        verb in ("create", "queue", "new")
        and order[:1]
        and order[0] in _STARTED_WORK
        and _DEPLOYMENT_PARTS.isdisjoint(order[1:2])
    ):
        return Effect(X, f"'{verb}' a {order[0]} starts it: the work runs", runs_code=True)
    if verb == "provision":
        return Effect(W, "provisioning billable infrastructure is write", 3)
    if verb in ("complete", "finalize", "run", "execute", "perform") and "migration" in objects:
        return Effect(X, f"'{verb}' a migration runs its statements", 5, runs_code=True)
    if verb == "migrate" and not objects.isdisjoint({"database", "db", "schema"}):
        return Effect(X, "a migration runs statements on the database", runs_code=True)
    if verb in ("write", "modify", "mutate") and not objects.isdisjoint(
        QUERY_LANGUAGES | {"query"}
    ):
        return Effect(D, "exists to run writing statements, deletes included", 8)
    if verb == "replace" and not objects.isdisjoint(CONTENT_OBJECTS):
        return Effect(D, "replacing content loses what was there")
    if verb == "restore" and not context.lead.isdisjoint({"backup", "snapshot"}):
        return Effect(D, "restoring from a backup overwrites what is there now")
    if verb == "commit" and "transaction" in objects and context.database:
        return Effect(X, "committing a transaction makes its changes permanent", 8)
    if verb == "rotate" and not objects.isdisjoint(_CREDENTIALS):
        return Effect(D, "rotating a credential revokes the old one")
    if verb in ("start", "stop") and not objects.isdisjoint(RECORDING_OBJECTS):
        return Effect(R, "recording or tracing only captures", 6)
    return Effect(W, f"'{verb}' creates or changes something that can be changed back")


_DEVICE_SWITCHES = words("set turn toggle lock unlock open close activate switch adjust")
_APPLIANCES = words(
    """light lights switch thermostat lock door cover fan device climate temperature
    brightness scene vacuum garage blind blinds heater alarm siren valve"""
)
_POSITIONS = words("position positions order orders takeprofit stoploss trade trades")
_TRADES = words(
    """open close modify update edit amend extend replace set place submit confirm increase
    decrease reduce adjust flatten"""
)
_HOME = words(
    """light lights thermostat climate vacuum garage appliance appliances hass
    homeassistant iot smart bulb plug sensor scene"""
)
_ORDERING = words("create add place submit initiate make book order")
_CREDENTIALS = words("secret key token password credential certificate apikey")


def _run(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if verb in ("rebuild", "reimage") and not objects.isdisjoint(_MACHINES):
        return Effect(D, "rebuilding a machine from an image wipes its disk")
    if verb in ("run", "execute", "exec", "perform", "invoke") and not objects.isdisjoint(
        QUERY_LANGUAGES | {"query"}
    ):
        return query_effect(context)
    if verb in ("run", "execute", "exec", "start", "trigger", "perform") and (
        not objects.isdisjoint(REPORT_OBJECTS) and objects.isdisjoint(_RUNNABLE)
    ):
        return Effect(R, "running a check, audit or report only computes", 6)
    if verb in ("eval",) and not objects.isdisjoint(EXPRESSION_OBJECTS):
        return Effect(R, "evaluating an expression only computes", 6)
    if verb in ("invoke", "call", "run") and not objects.isdisjoint(MODEL_OBJECTS):
        return Effect(R, "model inference only generates text for the caller", 6)
    if verb == "build" and not objects.isdisjoint(BUILD_TEXT_OBJECTS):
        return Effect(R, "building a query or text only returns it", 6)
    if verb in ("start", "launch") and not objects.isdisjoint(RECORDING_OBJECTS):
        return Effect(R, "starting a recording or trace only captures", 6)
    if verb in ("start", "launch", "boot") and context.drives and objects.isdisjoint(JOB_OBJECTS):
        return Effect(X, f"'{verb}' an app or a device drives it", 7)
    if verb == "start" and not objects.isdisjoint(_OPERATIONS):
        return Effect(W, "starting a rebase or merge changes the working tree")
    if verb in ("restart", "reboot", "powercycle"):
        return Effect(X, f"'{verb}' interrupts what is running; that cannot be taken back")
    if context.trades and not objects.isdisjoint(_POSITIONS) and verb in ("execute", "run"):
        return Effect(F, "executing an order trades")
    if verb in ("start", "resume", "unpause") and not objects.isdisjoint(_SCHEDULES):
        return Effect(W, f"'{verb}' a schedule or sensor enables it; stopping it undoes that", 11)
    if verb == "start" and not objects.isdisjoint(_SERVICES):
        return Effect(W, f"'{verb}' a service or instance changes its state (rule 11)", 11)
    if verb == "resume" and money_object(objects, context, order) is not None:
        return Effect(F, "resuming a subscription bills again")
    if verb in ("call", "dial") and not objects.isdisjoint({"phone", "number", "person"}):
        return Effect(X, "placing a phone call reaches a person", 4)
    if context.chain and verb in ("call", "invoke", "mint"):
        return Effect(X, f"'{verb}' on a blockchain sends a transaction that cannot be undone")
    return Effect(X, f"'{verb}' runs something whose effects reach beyond the call", runs_code=True)


_SCHEDULES = words("schedule schedules sensor sensors dag dags cron trigger triggers")
_RUNNABLE = words("script code command test tests program job pipeline workflow")
_SERVICES = words(
    """instance instances server servers service services container containers vm vms
    cluster clusters database db dyno dynos app apps application node nodes machine
    machines pod pods workspace environment mysql postgres postgre postgresql redis mongodb
    mariadb compose stack"""
)


def _send(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    message = message_object(objects, order)
    money = money_object(objects, context, order)
    if message is None and money == "invoice":
        return Effect(F, "sending an invoice asks for payment")
    if message is None and money is not None and money != "subscription":
        return Effect(F, f"sending '{money}' moves money")
    if verb == "forward" and "port" in objects:
        return Effect(X, "forwarding a port opens a tunnel that lasts beyond the call")
    if verb in ("reply", "forward", "respond") and not context.messaging:
        return Effect(W, "a reply to a comment stays inside the system", 4)
    if verb == "publish" and not objects.isdisjoint(_INSIDE):
        return Effect(W, "publishing a draft or comments inside the system changes their state", 4)
    if verb == "publish" and not objects.isdisjoint(IMAGE_OBJECTS | {"version", "release"}):
        return Effect(X, "publishing a release deploys it", 5)
    if verb == "send" and not objects.isdisjoint(_INPUTS) and not objects.isdisjoint(_SESSIONS):
        return Effect(X, "sending input to a process or terminal runs it", runs_code=True)
    if verb == "send" and message is None and not context.messaging:
        if context.drives and not objects.isdisjoint(_DEVICE_KEYS):
            return Effect(X, "sending keys drives the page", 7)
        if not objects.isdisjoint(_SUBMITTED_DATA):
            return Effect(W, f"'send' + {_some(objects)} submits data to the service")
    return Effect(X, f"'{verb}' sends something out that cannot be unsent", 4)


_INPUTS = words("input command commands keys keystrokes text stdin")
_SESSIONS = words("process terminal shell session repl console pty tty")
_DEVICE_KEYS = words("key keys text device screen home button app")
_INSIDE = words("comment comments draft pull_request review reviews")
_SUBMITTED_DATA = words(
    """mapping mappings data metric metrics telemetry feedback heartbeat analytics log logs
    span spans trace traces"""
)
_EXTERNAL = words(
    """notification notifications webhook webhooks sms email recipient recipients invitation
    invite transaction tx alert alerts"""
)


def _deploy(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if verb == "push":
        if not objects.isdisjoint(IMAGE_OBJECTS):
            return Effect(X, "pushing an image or package to a registry deploys it", 5)
        if not objects.isdisjoint(MESSAGE_OBJECTS | {"notification"}):
            return Effect(X, "pushing a notification sends it", 4)
        return Effect(W, "pushing files or commits changes a repository (history keeps them)")
    if verb == "apply":
        if not objects.isdisjoint(APPLY_WRITE_OBJECTS) or objects.isdisjoint(APPLY_OBJECTS):
            return Effect(W, f"applying {_some(objects)} changes one object")
        return Effect(X, f"applying {_some(objects & APPLY_OBJECTS)} deploys it", 5)
    if verb == "release" and not objects.isdisjoint(
        {"lock", "hold", "ip", "address", "claim", "reservation", "lease", "resource"}
    ):
        return Effect(W, "releasing a hold changes state")
    if verb in ("upgrade", "downgrade") and not objects.isdisjoint(
        {"plan", "subscription", "tier", "seat", "seats"}
    ):
        return Effect(F, f"'{verb}' a plan changes what is billed")
    if verb == "install" and objects.isdisjoint(INSTALL_OBJECTS) and context.drives:
        return Effect(X, "installing an app drives the device", 7)
    if verb == "rollback" and objects.isdisjoint(
        {"deployment", "release", "migration", "stack", "app", "application", "service", "rollout"}
    ):
        return Effect(W, "rolling back a record restores an earlier version")
    return Effect(X, f"'{verb}' deploys or installs", 5)


def _drive(
    verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]
) -> Effect | None:
    if verb != "navigate" and not context.drives:
        return None  # `type` is a noun, `fill` a form field, a `1-click` app, elsewhere
    return Effect(X, f"'{verb}' drives a browser or device with the user's session", 7)


def _delete(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if order and order[-1] in _PROPOSALS:
        return Effect(R, f"returns {order[-1]} for deleting; deletes nothing itself", 6)
    if verb == "drop" and ("drag" in context.words or context.drives):
        return Effect(X, "drag and drop drives the page", 7)
    if verb == "clear" and context.drives and not objects.isdisjoint(_FIELDS):
        return Effect(X, "clearing a field drives the page", 7)
    if verb == "clear" and not objects.isdisjoint({"run", "task", "instance", "job"}):
        return Effect(X, "clearing a run or task makes the scheduler run it again")
    if verb in ("delete", "remove") and not objects.isdisjoint({"lock", "lease", "hold"}):
        return Effect(W, "removing a lock releases it")
    if verb == "revoke":
        return Effect(D, "revoking credentials or access cannot be taken back by the call")
    if verb == "remove" and not objects.isdisjoint(_UNDONE_REACTIONS):
        return Effect(W, "removing a reaction undoes it; it can be added again")
    if (
        verb == "remove"
        and ("from" in order or "from" in context.lead)
        and not objects.isdisjoint(_DETACHABLE)
    ):
        return Effect(W, "removing from a group or list detaches: it can be added back")
    return Effect(D, f"'{verb}' deletes or irreversibly overwrites")


_MACHINES = words("server servers droplet droplets instance instances vm vms machine machines")
_GITOPS = words("git gitops argo argocd flux manifest manifests revision helm kustomize")
# `cleanup_candidates`, `deletion_plan`: what could be deleted, computed and returned.
_PROPOSALS = words(
    """candidate candidates suggestion suggestions recommendation recommendations plan
    preview proposal proposals"""
)
# Things linked to something else: removing one from it detaches (write).
_DETACHABLE = words(
    """label labels tag tags assignee assignees reviewer reviewers reaction reactions
    favourite favorite bookmark reblog like star contact contacts subscriber subscribers
    product products segment collection watcher watchers follower"""
)
_UNDONE_REACTIONS = words(
    "reaction reactions like likes favourite favorite bookmark star vote approval"
)
_FIELDS = words("field input text value form selection textbox")
_ACCESS = words("member members user users permission permissions access role roles collaborator")


def _cancel(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    money = money_object(objects, context, order)
    if money == "order" and context.trades:
        return Effect(F, "cancelling a trading order changes a trade")
    head = order[-1] if order else ""
    if not objects.isdisjoint(JOB_OBJECTS | _OPERATIONS) and (
        objects.isdisjoint(AGREEMENT_OBJECTS) or head in JOB_OBJECTS - AGREEMENT_OBJECTS
    ):
        # The object's head decides: a `scheduled job` is a job, a `job offer` is not.
        return Effect(W, "cancelling a running task or job: it can be started again", 11)
    if money is not None:
        return Effect(D, f"cancelling a '{money}' others rely on; money is involved too", 12)
    if not objects.isdisjoint(AGREEMENT_OBJECTS):
        return Effect(D, "cancelling an agreement others rely on")
    return Effect(D, f"'{verb}' cancels something others may rely on")


_OPERATIONS = words("experiment trial rebase merge cherry pick bisect sync")


def _stop(verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]) -> Effect:
    if verb == "terminate" and not objects.isdisjoint(
        {"instance", "cluster", "vm", "environment", "account"}
    ):
        return Effect(D, "terminating an instance deletes it")
    if not objects.isdisjoint(RECORDING_OBJECTS):
        return Effect(R, "stopping a recording or trace only returns what was captured", 6)
    if money_object(objects, context, order) == "subscription":
        return Effect(F, f"'{verb}' a subscription changes what is billed")
    if context.drives and objects.isdisjoint(JOB_OBJECTS - _SERVICES):
        return Effect(X, f"'{verb}' an app or a device drives it", 7)
    return Effect(W, f"'{verb}' stops running work: it can be started again", 11)


def _money(
    verb: str, objects: frozenset[str], context: Context, order: tuple[str, ...]
) -> Effect | None:
    if verb == "transfer" and objects.isdisjoint(_VALUABLES) and not context.pays:
        return Effect(W, "transferring ownership or a record changes who holds it")
    if verb in ("credit", "debit", "tip", "fund", "bill", "invoice") and not context.pays:
        return None  # a noun here: `credit_score`, `bill_status`
    if verb == "authorize" and not context.pays:
        return Effect(W, "authorizing access changes permissions")
    return Effect(F, f"'{verb}' moves money")


_VALUABLES = words(
    """money funds fund token tokens coin coins usdc nft nfts asset assets eth btc sol crypto
    balance share shares stock stocks payment payments"""
)


def _some(objects: frozenset[str]) -> str:
    return "'" + "', '".join(sorted(objects)[:4]) + "'" if objects else "it"


_JUDGES = {
    VerbKind.READ: _read,
    VerbKind.WRITE: _write,
    VerbKind.RUN: _run,
    VerbKind.SEND: _send,
    VerbKind.DEPLOY: _deploy,
    VerbKind.DRIVE: _drive,
    VerbKind.DELETE: _delete,
    VerbKind.CANCEL: _cancel,
    VerbKind.STOP: _stop,
    VerbKind.MONEY: _money,
}
