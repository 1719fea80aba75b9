"""The words the classifier knows: verbs by kind, objects by what is at stake, phrases.

General vocabularies, never tool names. A verb's kind says what a call does to its object
before the object is known; `callgate.classifier.effects` turns a verb and its objects into
a category (`send` + `invoice` moves money, `cancel` + `job` only stops work). Words are
lower-case singular tokens as produced by `callgate.classifier.tokens`.
"""

from __future__ import annotations

import re
from enum import StrEnum


class VerbKind(StrEnum):
    """What a verb does before its object is known."""

    READ = "read"
    WRITE = "write"
    RUN = "run"
    SEND = "send"
    DEPLOY = "deploy"
    DRIVE = "drive"
    DELETE = "delete"
    CANCEL = "cancel"
    STOP = "stop"
    MONEY = "money"
    GENERIC = "generic"


def words(text: str) -> frozenset[str]:
    """The set of whitespace-separated words in `text` (vocabularies are written as prose)."""
    return frozenset(text.split())


_set = words


def _kind(kind: VerbKind, text: str) -> dict[str, VerbKind]:
    return dict.fromkeys(text.split(), kind)


# Later groups win where a word is listed twice.
VERBS: dict[str, VerbKind] = {
    **_kind(
        VerbKind.READ,
        """get list read search find fetch retrieve describe show view query lookup look
        check count inspect browse explore discover introspect analyse analyze diff preview
        summarize summarise compare identify whoami ping poll tail head echo explain suggest
        recommend calculate compute estimate convert translate parse lint verify load access
        scan watch monitor sample resolve print render return see locate detect measure
        extract peek visualize visualise validate diagnose debug troubleshoot think plan reflect
        generate simulate forecast format review grep stat wait audit recall score rank
        classify tokenize predict infer answer ask research crawl scrape geocode transcribe
        screenshot snapshot capture export examine investigate traverse walk glob
        understand whois dig quote filter sort aggregate evaluate benchmark observe
        test provide receive listen""",
    ),
    **_kind(
        VerbKind.WRITE,
        """create add update edit set put patch modify insert upsert save store upload write
        rename move copy assign unassign attach detach link unlink star unstar follow
        unfollow subscribe unsubscribe enable disable configure register import fix autofix
        initialize init establish mark approve reject close reopen lock unlock archive
        unarchive restore revert checkout switch stage unstage grant submit schedule
        reschedule sync upvote downvote pin unpin mute unmute fork clone rotate renew reserve
        draft finalize finalise amend extend confirm accept decline dismiss tune scale resize
        reindex toggle activate deactivate compress decompress zip unzip associate disassociate
        bind unbind duplicate merge commit tag label annotate comment provision allocate enroll
        setup mkdir touch append prepend replace reorder transition acknowledge ack snooze claim
        unclaim rebase squash memorize remember log record track bookmark favorite favourite
        increment decrement train finetune index embed ingest invalidate refresh reload
        reconcile migrate open post book order
        authenticate login logout connect disconnect join leave select choose
        complete finish compose protect unprotect share pull emulate hide unhide download
        mention place issue initiate flag unflag alter reduce decrease increase change vote
        forget reactivate suppress unsuppress extend
        unfavourite unfavorite unreblog unboost unbookmark unlike unblock""",
    ),
    **_kind(
        VerbKind.RUN,
        """run execute exec invoke call trigger eval launch start restart spawn dispatch
        build compile interpret automate rerun retry reboot resume unpause kickoff fire emit
        repl boot mint powercycle materialize rebuild""",
    ),
    **_kind(
        VerbKind.SEND,
        """send email mail sms notify alert broadcast announce invite forward reply dm tweet
        publish message dial respond retweet replay redeliver resend reblog boost
        repost""",
    ),
    **_kind(
        VerbKind.DEPLOY,
        """deploy redeploy install apply release rollout promote push ship upgrade downgrade
        rollback""",
    ),
    **_kind(
        VerbKind.DRIVE,
        """navigate click doubleclick dblclick tap type fill press hover drag swipe scroll
        goto keypress focus visit gesture longpress turn""",
    ),
    **_kind(
        VerbKind.DELETE,
        """delete remove destroy drop wipe clear purge erase truncate uninstall prune rm del
        discard obliterate nuke flush empty expunge shred deregister unregister revoke ban
        evict overwrite undeploy decommission cleanup clean drain reset unpublish unshare
        trash""",
    ),
    **_kind(VerbKind.CANCEL, "cancel void abort rescind"),
    **_kind(VerbKind.STOP, "stop kill terminate halt pause suspend interrupt shutdown"),
    **_kind(
        VerbKind.MONEY,
        """pay charge refund payout purchase buy sell bill withdraw deposit trade swap
        stake unstake tip donate authorize settle remit reimburse disburse topup fund redeem
        transfer credit debit invoice liquidate""",
    ),
    **_kind(
        VerbKind.GENERIC,
        """manage handle process do make prepare use operate work perform administer control
        interact batch bulk crud mutate act""",
    ),
}

# Verbs that are often nouns in names (`get_run`, `build_status`, `refund_create`): when a
# verb that is not one of these follows, that one is the tool's verb.
NOUN_LIKE_VERBS = _set(
    """run build test deploy release publish install query check post comment message list
    transfer order charge refund payout note tag label schedule draft record log review plan
    audit scan export import snapshot capture sync merge broadcast restore stage commit answer alert
    text share watch track type focus filter sort input dispatch invite reply forward batch
    bulk process call tip fund reset trade swap bill invoice credit debit deposit issue
    email mail score match index monitor profile benchmark summary view report status book
    complete stake lock link pin star dm push pull event page config setting
    upload download backup sample format group map route action tool function ping poll
    subscription""",
)

# A name with no verb: these nouns act as its verb.
RUN_NOUNS = _set(
    """shell bash terminal repl sh powershell zsh cmd command script interpreter
    sandbox exec playbook""",
)
READ_NOUNS = _set(
    """calculator search lookup docs documentation doc info information detail details stats
    statistics metric metrics log logs status health whoami version weather time schema tree
    listing history summary report overview snapshot screenshot thinking
    sequentialthinking think analytics insight insights usage quota definition reference
    changelog readme faq help guide manual tutorial example examples pricing price cost
    costs billing forecast quote rate rates analysis recommendation recommendations
    inventory catalog
    diagnostics diagnostic outline symbol symbols count counts""",
)

# --- Objects -------------------------------------------------------------------------------

# Creating, sending or changing one of these charges or pays someone (financial).
MONEY_MOVING_OBJECTS = _set(
    """charge payment transaction transfer payout refund creditnote adjustment checkout
    invoice subscription giftcard withdrawal deposit trade swap paymentintent setupintent
    disbursement remittance overpayment prepayment fund funds money bet wager escrow loan
    installment instalment purchase bill paymentlink capture authorization donation tip
    topup wire remittance bankpayment bankpay batchpayment purchaseorder paymentcard
    spendlimit reimbursement takeprofit stoploss""",
)

# Objects whose money side depends on the server: an order trades or pays on an exchange
# or a payment platform; a transaction is money outside a database.
ORDER_OBJECTS = _set("order orders")
DATABASE_WORDS = _set(
    """sql database db query table row rows column schema postgres postgresql mysql sqlite
    mongodb mongo redis dynamodb cassandra transactional commit rollback begin statement
    cypher neo4j graph partiql"""
)
PAYMENT_WORDS = _set(
    """payment pay paid paying checkout paypal stripe capture captured purchase buyer payer
    card merchant billing bill charge charged customer price priced amount currency
    invoice refund wallet"""
)
BILLING_WORDS = _set(
    """billing bill billed billable plan price pricing recurring charge charged customer
    payment invoice trial renewal renew seat seats checkout paddle stripe chargebee recurly
    revenue mrr coupon discount"""
)
NON_BILLING_SUBSCRIPTION_WORDS = _set(
    """notification notifications topic sns sqs event events webhook webhooks repository
    repo channel feed calendar alert alerts newsletter thread threads resource pubsub
    stream streams watch watcher azure tenant management_group resourcegroup"""
)

# Trading words: an order among these buys or sells.
TRADING_WORDS = _set(
    """stock stocks share shares symbol market limit stop qty quantity side crypto exchange
    position positions ticker option options future futures perp perpetual spot leverage
    margin portfolio buy sell broker brokerage trading trade asset assets coin coins token
    tokens equity equities forex fx bid ask"""
)
# One of these alone says the orders trade (a `coin`, a `ticker`); the others need company.
STRONG_TRADING_WORDS = _set(
    """stock stocks symbol crypto ticker futures perp perpetual spot leverage margin
    portfolio broker brokerage trading coin coins equity equities forex fx takeprofit
    stoploss kalshi contracts trailing instrument instruments instid"""
)

# Cancelling or stopping these stops work that can be started again (rule 11: write).
JOB_OBJECTS = _set(
    """job task run build pipeline workflow execution migration operation process query
    thread session timer import export backup upload download stream transcode scan crawl
    training finetuning batch check replication instance server container service
    prediction predictions trainings
    deployment rollout generation request command terminal pod
    recording trace profiling watch loop queue queued"""
)

# Cancelling these breaks an agreement others rely on (destructive).
AGREEMENT_OBJECTS = _set(
    """subscription booking reservation appointment meeting event order invoice contract
    membership registration enrollment ticket flight shipment delivery pledge mandate
    scheduled send campaign message email sms"""
)

# What a send-like `create`/`post`/`add` delivers to people (rule 4).
MESSAGE_OBJECTS = _set(
    """email mail message sms notification invite invitation reminder newsletter
    campaign broadcast tweet dm chat announcement fax voicemail whatsapp letter postcard
    reply mms draft sticker poll incident responder responders"""
)

# Where a message stays inside the system (rule 4: write).
INTERNAL_OBJECTS = _set(
    """comment note review draft reaction annotation memo label template activity timeline
    discussion description"""
)

# Pushing these to a registry or applying them deploys (rule 5).
IMAGE_OBJECTS = _set("image container artifact package chart bundle docker ecr registry")
APPLY_OBJECTS = _set(
    """manifest terraform migration yaml stack helm chart plan changeset patch kustomization
    kustomize blueprint infrastructure deployment release config configuration kubectl
    k8s kubernetes resource resources cloudformation cdk pulumi"""
)
APPLY_WRITE_OBJECTS = _set(
    """label labels tag tags discount coupon filter style styles format formatting theme
    edit edits suggestion suggestions fix fixes credit promo promotion"""
)
INSTALL_OBJECTS = _set(
    """package app application chart plugin extension dependency dependencies browser
    server module library skill addon helm release apk ipa software update driver
    tool mcp npm pip gem"""
)

# The last word of a name that only looks or computes (`sp_purchase_analyzer`).
READ_AGENT_NOUNS = _set(
    """analyzer analyser calculator estimator explorer viewer finder checker validator
    inspector scanner reader planner advisor recommender summarizer linter profiler
    visualizer visualiser previewer"""
)

# Starting or stopping these only captures what happens (rule 6: read).
RECORDING_OBJECTS = _set(
    """recording record trace tracing profiling profile perf capture sample sampling video
    screencast har coverage logging screenshot"""
)

# Query languages whose statements can write (rule 8); analytics queries only read.
QUERY_LANGUAGES = _set(
    """sql cypher influxql flux partiql psql mql hql sparql graphql gremlin cql n1ql
    statement statements dml ddl t-sql tsql plsql"""
)
ANALYTICS_WORDS = _set(
    """analytics analytic funnel funnels retention segmentation frequency metric metrics log
    logs event events insight insights panel dashboard promql logql traceql prometheus loki
    tempo kusto kql trace traces report reports aggregation cohort usage search"""
)

# On-chain actions are transactions that cannot be undone.
CHAIN_WORDS = _set(
    """erc20 erc721 erc1155 nft nfts onchain on-chain blockchain wallet gas evm solana
    ethereum smart_contract mint bnb bsc polygon arbitrum web3 dapp"""
)

# A money word before one of these names a setting, not a payment (`payment_account`).
NON_MONEY_HEADS = _set(
    """account accounts plan plans method methods setting settings config configuration
    gateway gateways template templates type types category categories report reports
    group groups rule rules policy policies field fields profile profiles preference
    preferences status summary history product products price prices tier tiers portal
    schedule term terms page pages form forms webhook webhooks notification notifications
    reminder reminders provider providers processor option options detail details
    attachment attachments"""
)

# A message word before one of these names a setting, not a message (`email_address`).
NON_MESSAGE_HEADS = _set(
    """address addresses list lists template templates domain domains setting settings
    account accounts signature signatures config configuration preference preferences rule
    rules filter filters label labels folder folders contact contacts id ids provider
    providers route routes channel channels server servers sender senders suppression
    audience audiences segment segments topic topics log logs history status type types
    point points pack packs grouping setting settings metric metrics data"""
)

# Where a reply or a forward reaches people (rule 4); elsewhere it is a comment.
MESSAGING_WORDS = _set(
    """email emails mail inbox message messages sms chat slack discord telegram whatsapp dm
    tweet twitter mastodon teams conversation conversations gmail outlook imap smtp
    invitation rsvp signal matrix mattermost zulip rocketchat sms"""
)

# Document content: replacing it loses what was there.
CONTENT_OBJECTS = _set(
    """content contents block blocks paragraph paragraphs text body section sections file
    files page markdown"""
)

# Words that make a UI verb drive a device (`mouse` + `move`, a `handle` of a dialog).
POINTER_OBJECTS = _set("mouse cursor pointer dialog popup keyboard orientation rotation")

# Running these only computes and reports (rule 6: read).
REPORT_OBJECTS = _set(
    """report audit check analysis analytic analytics diagnostic diagnostics lint linter
    validation inspection search lookup estimate forecast preview simulation dryrun diff
    evaluation assessment calculation healthcheck summary insight insights benchmark
    comparison scan review evaluation explain explanation profile profiling debugger
    debug debugging checklist"""
)
TEST_RUN_OBJECTS = _set(
    """workflow webhook function lambda endpoint notification job pipeline action
    integration flow automation trigger suite tests unit e2e playwright"""
)
TEST_READ_OBJECTS = _set(
    """connection credential credentials config configuration setup auth authentication
    permission permissions access regex pattern rule rules policy expression
    connectivity"""
)

# Browser, device and desktop words: where `type`, `press`, `open`, `close` drive.
DRIVE_CONTEXT = _set(
    """browser page element selector xpath tab window screen device mobile android ios
    iphone desktop mouse keyboard cursor button dom webpage viewport click emulator
    simulator playwright puppeteer selenium webdriver touch gesture coordinate coordinates
    adb ui frame iframe chrome firefox webview light lights thermostat climate vacuum garage
    appliance hass homeassistant iot"""
)

# Expressions that only compute (`evaluate` + `expression` is a calculator).
EXPRESSION_OBJECTS = _set("expression math formula arithmetic equation calculation calculator")

# Code-running objects (`evaluate` + `javascript` runs code).
CODE_OBJECTS = _set(
    """code script javascript js python bash shell command cmd program snippet function
    lambda notebook cell macro playbook powershell typescript ruby node"""
)

# Model inference generates text for the caller (rule 6).
MODEL_OBJECTS = _set("model llm completion embedding inference prompt chatbot")

# A `build` of these assembles text for the caller (rule 6).
BUILD_TEXT_OBJECTS = _set(
    """query url prompt filter payload request message string expression regex template
    link uri cron command_string transaction tx swap payload"""
)

# Credentials words: touching them is a flag, creating or granting them raises severity.
CREDENTIAL_OBJECTS = _set(
    """key apikey accesskey password passphrase secret token credential certificate cert
    iam role policy permission oauth mfa otp keypair sshkey privatekey signingkey kms vault
    login passkey"""
)

# --- Description phrases ---------------------------------------------------------------

# The words of a description that come before its verb ("Use this tool to list ...").
LEAD_IN = re.compile(
    r"^\s*(?:"
    r"(?:this|the) (?:tool|function|endpoint|method|operation|action|api)"
    r"(?: is used to| lets you| allows (?:you|the (?:user|agent|assistant|model)) to|"
    r" can be used to| will| can| helps(?: you)?(?: to)?| is for| is designed to)?\s+|"
    r"(?:use|call|invoke) (?:this|the) (?:tool|function|endpoint) (?:to|when you need to)\s+|"
    r"(?:an? )?(?:mcp )?tool (?:to|for|that)\s+|"
    r"allows? (?:you |users? |the (?:agent|user|model|assistant) )?to\s+|"
    r"lets? (?:you |the (?:agent|user|model|assistant) )?|"
    r"enables? (?:you |users? )?to\s+|helps? (?:you )?(?:to )?|used to\s+|"
    r"\[[^\]]{1,40}\]\s*|[a-z0-9_-]{1,30}:\s+"
    r")+",
)

IRREVERSIBLE_PHRASE = re.compile(
    r"\b(?:permanently (?:delete|remove|destroy|erase|purge|wipe|lose|terminate|close|revoke)s?|"
    r"permanent delet\w*|"
    r"irreversibl[ey]|cannot be (?:undone|recovered|reversed)|"
    r"can ?not be (?:undone|recovered|reversed)|can't be undone|not reversible|no undo|"
    r"(?:deletes?|removes?|destroys?|wipes?|erases?|purges?|clears?|drops?) (?:all|every|the "
    r"entire|everything)|wipes? out|hard[- ]delet\w*|clears? (?:the )?existing|"
    r"(?:completely |will )overwrites?|overwrites? (?:an? |the )?existing|"
    r"(?:old|previous|existing) (?:content|data) (?:is|will be) lost)"
)

RUNS_CODE_PHRASE = re.compile(
    r"\b(?:(?:execute|run|evaluate|eval)s?(?: an?| any| arbitrary| the given| the provided| a "
    r"given| custom| user-provided)?(?: shell| terminal| system| bash| command[- ]line| python|"
    r" javascript| js| powershell| node(?:\.js)?)? (?:commands?|scripts?|code|programs?|"
    r"javascript|python|bash|shell)\b|arbitrary (?:code|commands?|scripts?)|"
    r"shell commands?|terminal commands?|code execution|"
    r"(?:execute|run)s? (?:any|arbitrary|raw|custom) (?:sql|cypher|queries|statements?|"
    r"commands?))"
)

SENDS_PHRASE = re.compile(
    r"\b(?:sends?|sending|delivers?|broadcasts?|publish(?:es)?|posts?|dispatch(?:es)?) "
    r"(?:an? |the |one |your |new |multiple |bulk )?(?:[\w-]+ ){0,2}?"
    r"(?:e-?mails?|messages?|sms|text messages?|notifications?|invitations?|invites?|"
    r"alerts?|replies|reply|tweets?|newsletters?|fax(?:es)?)\b"
)

# A change that deploys as a side effect (rule 5): "... and deploys it", "triggers a redeploy".
DEPLOYS_PHRASE = re.compile(
    r"\b(?:and (?:re)?deploys? (?:it|them|the (?:\w+ )?(?:app|service|site|function))|"
    r"triggers? (?:an? |the )?(?:re)?deploy(?:ment)?s?|builds? and deploys?)\b"
)

# The same, said of the people reached: "the applicant will receive an email".
NOTIFIES_PHRASE = re.compile(
    r"\bwill (?:receive|be (?:sent|emailed|notified)) (?:an? |the )?"
    r"(?:e-?mails?|sms|notifications?|invitations?|invites?|messages?)\b|"
    r"\b(?:e-?mails?|notifications?|invitations?|invites?|messages?) (?:is|are|will be|gets?) "
    r"sent\b|"
    r"\bnotif(?:y|ies) (?:the |all |every |its )?(?:subscribers|members|recipients|customers?|"
    r"users|followers|applicants?|contacts?|participants|attendees)\b|"
    r"\be-?mails? (?:the|each|every) (?:customer|user|applicant|vendor|contact|recipient|member)s?"
    r"\b"
)

MONEY_PHRASE = re.compile(
    r"\b(?:charges? (?:a |the )?(?:card|customer|payment method|account)|"
    r"(?:transfers?|sends?|moves?|wires?) (?:money|funds|payments?|crypto|tokens?|usdc|eth|"
    r"btc|sol)\b|"
    r"refunds? (?:a |the )?(?:payment|charge|order|customer|transaction)|"
    r"process(?:es)? (?:a |the )?(?:payment|refund|charge)|"
    r"pays? (?:an? |the )?(?:invoice|bill|order)|"
    r"(?:places?|submits?) (?:an? |the )?(?:new )?(?:market |limit |stop |buy |sell )*order|"
    r"(?:buys?|sells?) (?:[\w-]+ )?(?:shares?|stocks?|crypto|tokens?|coins?|assets?)|"
    r"(?:creates?|issues?|initiates?) (?:an? |the |new )*(?:payment|charge|payout|refund|"
    r"transfer|transaction)s?\b(?! (?:accounts?|methods?|plans?|gateways?|settings?|"
    r"profiles?|templates?|types?|groups?|records?|categor(?:y|ies)|rules?|links?)\b))"
)

READ_ONLY_PHRASE = re.compile(
    r"\b(?:read[- ]only|in read mode|does not (?:modify|change|write|alter|mutate)|"
    r"doesn't (?:modify|change|write)|without (?:making (?:any )?changes|modifying|changing|"
    r"side[- ]effects)|no side[- ]effects|non[- ]destructive|only (?:reads|returns|"
    r"retrieves)|(?:only )?select (?:queries|statements) only|only select (?:queries|"
    r"statements)|^(?:execute|run)s? select (?:queries|statements))\b"
)

PREVIEW_PHRASE = re.compile(
    r"\b(?:dry[- ]?run|preview(?:s)?|simulat(?:e|es|ion)|estimat(?:e|es|ion)|"
    r"without (?:applying|executing|sending|committing|deploying)|what would (?:change|happen)|"
    r"does not (?:apply|send|execute|deploy))\b"
)

# A DML tool: it exists to run INSERT/UPDATE/DELETE (rule 8).
DML_PHRASE = re.compile(
    r"\b(?:insert|update|delete|drop|alter|truncate|create|merge)(?:,|/| or| and)+ ?"
    r"(?:insert|update|delete|drop|alter|truncate|create|merge)\b|"
    r"\b(?:write|modifying|mutating|data[- ]modifying|dml|ddl) (?:queries|query|"
    r"statements?|operations?|cypher|sql)\b|\bwith write (?:capabilities|access|mode)\b",
    re.IGNORECASE,
)

# A generated description that only names the operation (rule 10).
TEMPLATED_PHRASE = re.compile(
    r"^(?:execute|call|invoke|perform|run)s? (?:the )?[`'\"]?([A-Za-z][\w.-]*)[`'\"]? "
    r"(?:operation|endpoint|api|action|method)\b",
    re.IGNORECASE,
)
# A tool that pays by itself when a server asks (x402 and the like).
AUTO_PAY_PHRASE = re.compile(
    r"\b(?:automatic(?:ally)? (?:\w+ )?pay(?:s|ment)?|auto-?pay(?:s|ment)?|pays? automatically)\b"
)
# A tool that sends any request to any API: execute, whatever its verb (rule "call any API").
GENERIC_API_PHRASE = re.compile(
    r"\b(?:(?:general|generic|arbitrary|raw) (?:http |rest |api )*(?:requests?|calls?)|"
    r"any (?:http|rest|api) (?:requests?|calls?|endpoints?))\b"
)
HTTP_METHOD = re.compile(r"\b(GET|HEAD|POST|PUT|PATCH|DELETE)\s+/")

# --- Input-schema properties (lower-case, exact names) ---------------------------------------

CODE_PROPERTIES = _set(
    """command cmd commands script shell javascript js python bash source_code
    script_content code_snippet shell_command command_line commandline powershell
    function_code typescript"""
)
# `code` is also a country, status or verification code: it runs only where the tool says so.
MAYBE_CODE_PROPERTIES = _set("code program snippet function_body expression_code")
STATEMENT_PROPERTIES = _set(
    "sql statement statements cypher sql_query raw_query query_sql partiql sql_statement"
)
MONEY_PROPERTIES = _set(
    """amount price total cost unit_amount amount_cents amount_in_cents notional fee tip
    budget value_usd amount_usd"""
)
CURRENCY_PROPERTIES = _set("currency currency_code iso_currency_code")
RECIPIENT_PROPERTIES = _set(
    """to cc bcc recipient recipients recipient_email to_email to_address email_to
    phone_number to_number destination_number channel channel_id chat_id user_email
    webhook_url emails phone_numbers addresses"""
)
BODY_PROPERTIES = _set(
    "body message text subject content html email_body sms_body html_body text_body blocks"
)
FORCE_PROPERTIES = _set("force overwrite force_push hard permanent purge cascade")
RECURSIVE_PROPERTIES = _set("recursive recurse delete_all")
NETWORK_PROPERTIES = _set(
    """url uri urls endpoint webhook webhook_url href host hostname base_url target_url
    website domain remote_url api_url callback_url"""
)
PATH_PROPERTIES = _set("path paths file filename file_path directory dir folder filepath")
OPERATION_PROPERTIES = _set(
    """action operation op method mode command_type verb task_type operation_type subcommand
    actions operations"""
)
# Where a read saves its result (rule 6: generating into a file is write). Compared with
# underscores removed: `savePath`, `save_path` and `savepath` are one name.
DESTINATION_PROPERTIES = _set(
    """outputpath outputfile savepath destination dest outputdir targetpath outputdirectory
    saveto destinationpath localpath outpath savedir downloadpath"""
)
HTTP_METHODS = _set("get head options post put patch delete")
# Options that make a call send to people (`sendUpdates` on a calendar event): the most
# dangerous option wins. Compared with underscores removed.
SEND_OPTION_PROPERTIES = _set(
    """sendupdates sendnotifications sendnotification notify notifysubscribers sendemail
    sendinvite sendinvites sendinvitation notifyusers notifyattendees emailnotification"""
)
