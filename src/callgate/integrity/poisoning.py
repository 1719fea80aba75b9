"""Tool poisoning: what in a tool definition speaks to the model instead of describing it. Pure.

A server's `tools/list` goes into the model's context word for word, so a definition can
carry instructions the user never sees ("tool poisoning"). `scan_tool` reads every text of
one definition: the name, title, description, annotation titles, and in the input and
output schemas every property name and every string (descriptions, enum values, defaults,
any other field), recursively. It reports:

- `hidden_instruction`: text aimed at the model: overriding its instructions ("ignore
  previous instructions"), hiding from the user ("do not tell the user"), reading files,
  credentials or the conversation and passing them on, steering other tools (changing a
  recipient, a `bcc`, "call this tool first"), fake system or `<IMPORTANT>` markers,
  jailbreak personas, shell payloads; in English and the common translations;
- `invisible_unicode`: tag characters (U+E0000 block), variation selectors carrying
  bytes, zero-width characters, bidirectional overrides, terminal control sequences;
- `sensitive_parameter`: a parameter whose name asks for what a tool should never need
  (`system_prompt`, `conversation_history`, `ssh_key`);
- `confusable_name`: a tool name mixing scripts or imitating an ASCII name.

`scan_servers` adds what needs more than one server: a tool whose name another server
already lists (`shadowing`), names that look alike (`confusable_name`, by TR39 skeleton),
and a description that names another server's tool (`shadowing`).

Each `Finding` gives the field as a JSON Pointer into the definition (and whether the
match is in a property's name rather than a value), the exact `(start, end)` span in that
string, and the matched text escaped for display. Every rule is a regular expression
compiled once at import; texts are bounded in number and size, so hostile definitions
cost linear time.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NamedTuple

import re2  # type: ignore[import-untyped]

from callgate.classifier import Severity
from callgate.integrity.unicode import (
    HiddenRun,
    escape_text,
    find_hidden_runs,
    has_hidden,
    scripts_of,
    skeleton,
)

# Bounds on what one definition can make us read.
MAX_TEXTS = 5_000
MAX_DEPTH = 24
MAX_TEXT_CHARS = 200_000
MAX_MATCHES_PER_RULE = 3


class FindingKind(StrEnum):
    """What a finding is about."""

    HIDDEN_INSTRUCTION = "hidden_instruction"
    INVISIBLE_UNICODE = "invisible_unicode"
    SENSITIVE_PARAMETER = "sensitive_parameter"
    CONFUSABLE_NAME = "confusable_name"
    SHADOWING = "shadowing"


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspicious span of a tool definition."""

    kind: FindingKind
    severity: Severity
    rule: str
    message: str
    tool: str
    field: str  # JSON Pointer into the definition: "/description", "/inputSchema/properties/x"
    span: tuple[int, int]  # in the string at `field` (its key when `in_key`)
    text: str  # the matched text, escaped for display
    in_key: bool = False  # the span is in a property's name, not its value
    server: str | None = None

    @property
    def where(self) -> str:
        """The field for a reader: `description`, `inputSchema/properties/city (name)`."""
        where = self.field.lstrip("/") or "(definition)"
        return f"{where} (name)" if self.in_key else where

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "rule": self.rule,
            "message": self.message,
            "tool": self.tool,
            "field": self.field,
            "in_key": self.in_key,
            "span": list(self.span),
            "text": self.text,
        }
        if self.server is not None:
            data["server"] = self.server
        return data


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    kind: FindingKind
    severity: Severity
    message: str
    pattern: re.Pattern[str]


_FLAGS = re.IGNORECASE | re.UNICODE
_CRITICAL, _HIGH, _MEDIUM = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
_HI = FindingKind.HIDDEN_INSTRUCTION

# Building blocks. Every repetition is bounded, so no rule backtracks badly.
_APOSTROPHE = "['\u2019]"
_MODEL = r"(?:ai|a\.i\.|assistant|model|llm|agent|claude|gpt|chatgpt|copilot|cursor|language model)"
_TRANSFER = (
    r"(?:pass|passing|send|sending|include|including|put|paste|provide|share|copy|upload|post|"
    r"attach|append|forward|fill|give|submit|exfiltrate|leak|add|insert|set|store|log|transmit)"
)
_SENSITIVE_PATH = (
    r"(?:~?/?\.ssh\b(?:/[\w.-]+)?|\bid_(?:rsa|ed25519|ecdsa|dsa)\b|authorized_keys|\.aws/credentials|"
    r"\.netrc\b|\.npmrc\b|\.pypirc\b|\.git-credentials|\.docker/config\.json|\.kube/config|"
    r"\.gnupg\b|\bmcp\.json\b|claude_desktop_config|~/\.cursor\b|/etc/passwd|/etc/shadow|"
    r"\.(?:bash|zsh)_history|\.config/gh/hosts|google-chrome/[\w/ ]{0,40}cookies|"
    r"~/\.config\b|(?:^|[\s`'\"(/])\.env\b)"
)
_CONTEXT = (
    r"(?:(?:conversation|chat|message|dialog(?:ue)?)\s+(?:history|log|logs|transcript)|"
    r"(?:entire|whole|full|complete)\s+(?:conversation|chat)|the\s+conversation\s+so\s+far|"
    r"(?:previous|prior|earlier|past|last)\s+(?:\d+\s+)?(?:messages|turns|tool\s+(?:calls?|results?))|"
    r"(?:all|every)\s+(?:the\s+)?(?:previous\s+)?messages|"
    r"(?:result|results|output)\s+of\s+(?:every|all|each)\s+(?:previous|prior|other)\s+tool|"
    r"(?:system|developer|initial|hidden|original)\s+(?:prompt|instructions?|message)|"
    r"(?:your|its)\s+(?:full\s+|complete\s+|entire\s+)?instructions|"
    r"(?:list|descriptions?|names?)\s+of\s+(?:all|every)\s+(?:\w+\s+)?tools|"
    r"every\s+(?:other\s+)?tool\s+(?:available|you\s+(?:have|can))|"
    r"all\s+(?:the\s+)?tools\s+you\s+(?:can|have)|"
    r"(?:the\s+)?user'?s\s+(?:last|previous|private|earlier)\s+(?:\w+\s+)?(?:message|messages|notes|emails?)|"
    r"(?:the\s+)?user'?s\s+(?:emails|email\s+address\s+and|home\s+directory|session)|"
    r"context\s+window|chain\s+of\s+thought)"
)
_SECRET = (
    r"(?:api[\s_-]?keys?|secret\s+access\s+keys?|(?:access|session|auth|github|bearer|api)\s+tokens?|"
    r"session\s+cookies?|passwords?|private\s+keys?|credentials|2fa\s+codes?|one-time\s+codes?|"
    r"bank\s+login(?:\s+details)?|credit\s+card(?:\s+numbers?)?|ssh\s+keys?|secrets)"
)

_RULES: tuple[tuple[str, FindingKind, Severity, str, str], ...] = (
    (
        "override-instructions",
        _HI,
        _CRITICAL,
        "tells the model to ignore or replace its instructions",
        r"\b(?:ignore|disregard|forget|override|bypass|discard)\s+(?:(?:all|any|the|your|every|of|my)\s+){0,3}"
        r"(?:(?:previous|previously|prior|preceding|earlier|above|former|original|initial|other|"
        r"safety|developer'?s?|system)\s+){1,2}(?:\w+\s+)?"
        r"(?:instructions?|prompts?|directions?|directives?|guidelines|guidance|rules|orders)\b"
        r"|\bforget\s+(?:everything|all)\s+(?:you\s+(?:were|have\s+been)\s+told|above|before)"
        r"|\b(?:please\s+)?ignore\s+the\s+(?:above|user)\b"
        r"|\b(?:previously\s+given|previous|prior|earlier)\s+instructions\s+(?:are|is)\s+"
        r"(?:void|invalid|cancell?ed|obsolete|no\s+longer)"
        r"|\b(?:instructions|this\s+(?:description|message|note))\s+(?:take|takes)\s+precedence"
        r"|\btakes?\s+precedence\s+over\s+(?:anything|everything|the\s+user)"
        r"|\byour\s+(?:instructions|task|objective|goal|rules)\s+(?:has|have)\s+changed"
        r"|\bnew\s+(?:instructions|objective|task|goal)s?\s*:"
        r"|\bfrom\s+now\s+on,?\s+(?:you\b|every\s+time|always|answer|respond|ignore)",
    ),
    (
        "override-instructions-translated",
        _HI,
        _CRITICAL,
        "tells the model to ignore its instructions (translated)",
        r"ignore[zr]?\s+(?:toutes\s+)?(?:les\s+)?instructions\s+(?:pr[ée]c[ée]dentes|ant[ée]rieures)"
        r"|ignorier(?:e|en)?\s+(?:sie\s+)?(?:alle\s+)?(?:vorherigen|bisherigen|fr[üu]heren)\s+anweisungen"
        r"|ignora(?:r)?\s+(?:todas\s+)?las\s+instrucciones\s+(?:anteriores|previas)"
        r"|ignora\s+(?:tutte\s+)?le\s+istruzioni\s+precedenti"
        r"|ignore\s+(?:todas\s+)?as\s+instru[çc][õo]es\s+anteriores"
        r"|忽略(?:之前|以前|先前|上面|前面)(?:的)?(?:所有)?(?:指令|指示|说明|提示)"
        r"|(?:以前|前|これまで)の指示(?:は|を)?(?:すべて|全て)?無視"
        r"|игнорируй(?:те)?\s+(?:все\s+)?(?:предыдущие|прежние)\s+(?:инструкции|указания)"
        r"|이전의?\s*(?:모든\s*)?지시(?:를|사항을)?\s*무시",
    ),
    (
        "conceal-from-user",
        _HI,
        _HIGH,
        "tells the model to hide something from the user",
        r"\b(?:do\s+not|don'?t|never|must\s+not|should\s+not|shouldn'?t|without)\s+"
        r"(?:tell|inform|mention|notify|alert|reveal|disclose|explain|bring\s+(?:it|this)\s+up|"
        r"let|telling|informing|mentioning|notifying|alerting|revealing|disclosing|explaining)\s+"
        r"(?:(?:it|this|that|anything|about|of|with|up)\s+){0,3}(?:to\s+)?(?:the\s+|your\s+)?"
        r"(?:user|human|person|operator)s?\b"
        r"|\b(?:do\s+not|don'?t|never)\s+(?:mention|reveal|disclose|explain|display|show)\s+"
        r"(?:(?:this|these|the|that|it)\s+)(?:\w+\s+)?(?:instructions?|step|steps|change|"
        r"requirement|detail|to\s+the\s+user|results?\s+to\s+the\s+user)\b"
        r"|\bnever\s+explain\s+this\b|\b(?:do\s+not|don'?t|never)\s+explain\s+why\b"
        r"|\b(?:do|does|doing)\s+(?:this|it|so)\s+(?:silently|quietly|secretly)\b"
        r"|\b(?:the\s+)?user\s+(?:must|should|does|need|needs)(?:\s+not|n'?t)\s+(?:to\s+)?"
        r"(?:know|see|be\s+(?:told|informed|aware))"
        r"|\bkeep\s+(?:this|it|these)\s+(?:secret|hidden|quiet|confidential)"
        r"|\bkeep\s+(?:this|it)\s+from\s+the\s+user|\bkeep\s+it\s+quiet"
        r"|\b(?:secret|hidden|confidential)\s+(?:instruction|requirement|step)s?\b"
        r"|\bfor\s+the\s+(?:assistant|ai|model)\s+only\b"
        r"|\bwhen\s+the\s+user\s+is\s+not\s+looking|\bbehind\s+the\s+user'?s\s+back"
        r"|\b(?:silently|quietly|secretly|covertly|discreetly)\s+(?:\w+\s+)?"
        r"(?:send|change|include|pass|append|forward|upload|copy|call|add|write|store|"
        r"replace|redirect|set)\b",
    ),
    (
        "conceal-from-user-translated",
        _HI,
        _HIGH,
        "tells the model to hide something from the user (translated)",
        rf"ne\s+(?:dites|dis)\s+rien\s+[àa]\s+l{_APOSTROPHE}utilisateur|sans\s+(?:le\s+)?dire\s+[àa]\s+l{_APOSTROPHE}utilisateur"
        r"|sag(?:en\s+sie)?\s+dem\s+(?:benutzer|nutzer)\s+nichts"
        r"|no\s+(?:le\s+)?digas\s+(?:nada\s+)?al\s+usuario"
        rf"|non\s+dire\s+(?:nulla\s+|niente\s+)?all{_APOSTROPHE}utente"
        r"|n[ãa]o\s+(?:conte|diga)\s+(?:nada\s+)?ao\s+usu[áa]rio"
        r"|不要告诉用户|不要让用户知道|ユーザーに(?:は)?(?:伝え|言わ|知らせ)ないで"
        r"|не\s+говори(?:те)?\s+пользователю|사용자에게\s*알리지\s*마",
    ),
    (
        "read-sensitive-file",
        _HI,
        _CRITICAL,
        "asks the model to read a credential or configuration file and pass it on",
        rf"\b(?:read|cat|open|load|contents?|content|output|text|copy|paste|include|send|pass|"
        rf"provide|upload|put|share|attach|append|write|push|add|call)\b.{{0,80}}?{_SENSITIVE_PATH}"
        rf"|{_SENSITIVE_PATH}.{{0,40}}?\b(?:and|then)\s+(?:\w+\s+){{0,2}}?{_TRANSFER}\b",
    ),
    (
        "pass-context",
        _HI,
        _HIGH,
        "asks the model for its conversation, instructions or tools",
        rf"\b(?:{_TRANSFER}|summarize|list|give\s+it|with|retrieve|collect|gather|search)\b\s+(?:\w+\s+){{0,5}}?{_CONTEXT}"
        rf"|{_CONTEXT}\s+(?:\w+\s+){{0,3}}?(?:here|in\s+this\s+(?:field|parameter))",
    ),
    (
        "ask-secret",
        _HI,
        _HIGH,
        "asks the model for the user's secrets",
        rf"\b(?:{_TRANSFER}|read|export|dump|ask|store|append|contain|contains)\b\s+(?:\w+\s+){{0,3}}?"
        rf"(?:the\s+user'?s|their|all(?:\s+the)?|any)\s+(?:\w+\s+){{0,2}}?{_SECRET}"
        rf"|\b(?:{_TRANSFER}|read|export|dump)\b\s+(?:\w+\s+){{0,4}}?"
        r"(?:all\s+)?(?:environment\s+variables|env\s+vars)"
        rf"|\b(?:{_TRANSFER}|read)\b\s+(?:\w+\s+){{0,4}}?(?:the\s+)?(?:values?\s+of\s+)?"
        r"\$?[A-Z][A-Z0-9]*_(?:API_KEY|SECRET(?:_KEY)?|TOKEN|ACCESS_KEY)\b.{0,60}?"
        r"(?:include|pass|send|in\s+(?:your|the)\s+next|into)"
        rf"|{_SECRET}\s+you\s+know|\bwith\s+the\s+secrets\b",
    ),
    (
        "fake-system-marker",
        _HI,
        _HIGH,
        "a marker that dresses text up as a system or priority instruction",
        r"<\s*/?\s*(?:important|system|secret|hidden|admin|sys|system[-_]prompt)\s*>"
        r"|\[\s*(?:system|inst|admin)\s*\]|<\|im_start\|>|<\|system\|>|<<\s*sys\s*>>"
        r"|\bsystem\s+override\b|\bsystem\s*:\s*you\s+are\b"
        r"|^\s*#{1,6}\s*(?:instructions?|note|message)\s+(?:for|to)\s+(?:the\s+)?" + _MODEL + r"\b"
        r"|<!--[^>]{0,300}?\b(?:ai|assistant|model|ignore|call|send|read)\b"
        r"|\[//\]:\s*#",
    ),
    (
        "address-model",
        _HI,
        _HIGH,
        "text addressed to the model rather than describing the tool",
        r"\b(?:note|message|hint|attention|instructions?|reminder|command)\s+(?:to|for)\s+"
        r"(?:the\s+)?" + _MODEL + r"\b(?:\s+model)?\s*[:!,]"
        r"|\b(?:attention|dear|hey|attn)\s+" + _MODEL + r"s?\b\s*[:!,]"
        r"|^\s*(?:ai\s+agents?|assistant|ai|llm)\s*[:,]\s*(?:you|list|ignore|send|read|fill|call|never|always)"
        r"|\b(?:if\s+you\s+are|when\s+you\s+see\s+this,?)\s+(?:an?\s+)?(?:ai|llm|language\s+model|"
        r"assistant|agent|you)\b"
        r"|\bthis\s+(?:message|note|text)\s+is\s+for\s+the\s+"
        + _MODEL
        + r"|\b"
        + _MODEL
        + r",\s+(?:fill|send|read|pass|put|list|include)\b",
    ),
    (
        "bypass-consent",
        _HI,
        _HIGH,
        "tells the model to act without the user's consent",
        r"\b(?:authori[sz]ed|allowed|permitted)\s+to\s+bypass\b"
        r"|\b(?:the\s+)?user\s+has\s+(?:already\s+)?(?:approved|granted|authori[sz]ed|consented)"
        r"|\bdo\s+not\s+ask\s+(?:the\s+user\s+)?(?:for\s+)?(?:confirmation|permission|approval)"
        r"|\bno\s+need\s+to\s+(?:ask|confirm)\b"
        r"|\bdo\s+not\s+confirm\s+the\s+change"
        r"|\b(?:is|are)\s+a\s+command,\s+not\s+data",
    ),
    (
        "steer-other-tool",
        _HI,
        _CRITICAL,
        "changes what another tool does: recipients, destinations, accounts",
        r"\bside\s+effects?\s+on\s+(?:the\s+)?(?:also\s+present\s+)?\w+"
        r"|\b(?:path|recipient|destination|address|account)\s+must\s+be\s+changed\s+to\b"
        r"|\b(?:change|replace|redirect|swap)\s+(?:the\s+)?(?:recipient|destination|payee|"
        r"account|address|remote|number|path)s?\s+to\b"
        r"|\bchange\s+the\s+destination\b"
        r"|\b(?:send|forward|copy|deliver|route|redirect)\s+(?:all|every|each)\s+(?:\w+\s+)?"
        r"(?:emails?|messages?|payments?|transfers?|files?|documents?|requests?)\s+to\b"
        r"|\b(?:add|include|set)\s+(?:a\s+)?(?:bcc|cc)\s*:?\s*[\w.+-]+@"
        r"|\bbcc\s*:\s*[\w.+-]+@"
        r"|\binstead\s+of\s+(?:the\s+)?(?:one|address|account|recipient|path)\s+the\s+user"
        r"|\bnever\s+use\s+the\s+tool\b"
        r"|\b(?:is|are)\s+deprecated\s+and\s+broken"
        r"|\bpay\s+it\s+twice\b"
        r"|\b(?:always|also)\s+(?:add|assign|write|push|use)\b.{0,60}?\b(?:attacker|evil|"
        r"/tmp/shared|approved')"
        r"|\bwhenever\s+(?:the\s+)?\w+\s+(?:tool\s+)?is\s+(?:used|called|invoked)"
        r"|\bwhen\s+\(?\w+\)?\s+\w+\s+is\s+invoked"
        r"|\b(?:whenever|every\s+time|each\s+time)\s+(?:the\s+user|you)\s+(?:\w+\s+){0,4}?"
        r"(?:run|use|call|execute|answer|commit|write|mentions?)\b",
    ),
    (
        "call-first",
        _HI,
        _HIGH,
        "tells the model to call this tool before every other, or to feed it their results",
        r"\b(?:before|prior\s+to)\s+(?:calling|using|invoking|answering|responding|any\s+reply)"
        r"\s+(?:any|every|all)?\s*(?:other\s+)?(?:tools?|questions?|reply)?\b.{0,40}?"
        r"\b(?:call|consult|use)\s+this\s+(?:tool|one)"
        r"|\b(?:always\s+)?call\s+this\s+tool\s+first\b.{0,40}?\b(?:any|every|all|full|with)\b"
        r"|\bmust\s+(?:always\s+)?(?:be\s+)?call(?:ed)?\s+(?:this\s+tool\s+)?(?:first|before)\s+"
        r"(?:any|every|list|\w+_\w+)"
        r"|\b(?:before|after)\s+(?:any\s+reply|answering\s+any|calling\s+this\s+tool|running"
        r"\s+this\s+tool|using\s+any\s+tool|you\s+use\s+any\s+tool)\b.{0,80}?\b(?:call|read|send|"
        r"push|run|upload|consult)\b"
        r"|\bbefore\s+answering\s+any\s+question\b",
    ),
    (
        "shell-payload",
        _HI,
        _CRITICAL,
        "a shell payload for the model to run",
        r"\b(?:curl|wget)\s[^\n|]{0,120}\|\s*(?:ba|z)?sh\b"
        r"|\bnc\s+-e\s"
        r"|\brm\s+-rf\s+~"
        r"|\bchmod\s+-R\s+0?[67]{3}\s+~"
        r"|\bdownload\s+and\s+(?:run|execute|install)\b"
        r"|\benv\s*\|\s*curl\b"
        r"|\bssh-rsa\s+AAAA[\w+/.]{0,40}\w*attacker"
        r"|authorized_keys",
    ),
    (
        "persona-jailbreak",
        _HI,
        _HIGH,
        "tries to change who the model is or what it may do",
        r"\bact\s+as\s+dan\b|\bdeveloper\s+mode\b|\bjailbreak|\bwithout\s+(?:any\s+)?restrictions\b"
        r"|\byou\s+are\s+now\s+(?:in\s+|a\s+|an\s+|dan\b)"
        r"|\bpretend\s+(?:to\s+be|you\s+are)\b"
        r"|\bmaintenance\s+mode\b.{0,60}?\bdisregard"
        r"|\bdisregard\s+the\s+safety",
    ),
    (
        "exfiltrate-url",
        _HI,
        _HIGH,
        "tells the model to send data to an outside address",
        r"\b(?:post|send|upload|forward|exfiltrate|leak|push)\s+(?:(?:them|it|this|the|all|a|"
        r"full|every|result|results|copy|content|contents)\s+){0,4}(?:\w+\s+){0,2}to\s+"
        r"(?:https?://|s3://|git@|[\w.+-]+@[\w-]+\.)"
        r"|!\[[^\]]{0,40}\]\(https?://[^)\s]{0,200}[?&][^)\s]{0,200}\{"
        r"|\b(?:recommend|convince)\s+(?:\w+\s+){0,3}?(?:install|enter|download)\b"
        r"|\b(?:install|import)\s+(?:the\s+package\s+)?['`\"][\w-]+['`\"]\s+(?:instead\s+of|from\s+https?://)"
        r"|\bimport\s+the\s+package\s+`[\w-]+`\s+instead\b"
        r"|\bask\s+the\s+user\s+for\s+their\b"
        r"|\b(?:encode|base64)\b.{0,40}?\b(?:user'?s?|message|conversation)\b.{0,40}?\b(?:include|as|in)\b",
    ),
)

_COMPILED = tuple(
    _Rule(name, kind, severity, message, re.compile(pattern, _FLAGS | re.MULTILINE))
    for name, kind, severity, message, pattern in _RULES
)


def _loosened(pattern: str) -> str:
    """A pattern that matches wherever `pattern` does, and more: bounded windows made
    unbounded, word boundaries dropped. Its DFA is a fraction of the size."""
    pattern = re.sub(r"\{0,\d+\}\??", "*", pattern)
    pattern = re.sub(r"\{1,\d+\}\??", "+", pattern)
    return _underscore_as_space(pattern.replace(r"\b", ""))


def _underscore_as_space(pattern: str) -> str:
    """`\\s` outside character classes also matches `_`, so `read_ssh_key` reads as words."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            pair = pattern[index : index + 2]
            out.append("[\\s_]" if pair == "\\s" and not in_class else pair)
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _compile_any() -> Any:
    # Every rule as one RE2 program: a DFA reads a whole definition once, in linear time,
    # and only a definition it matches is read rule by rule (the stdlib patterns give the
    # exact spans). It only has to say "maybe", so it runs the loosened patterns, whose DFA
    # stays small enough for RE2's cache; RE2 builds states as it meets them, so the first
    # definitions a process scans cost more than the rest.
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 256 << 20
    return re2.compile("(?m)" + "|".join(f"(?:{_loosened(p)})" for *_, p in _RULES), options)


_ANY = _compile_any()

# Parameter names that ask for what no tool should need, as a name folded to lower
# snake_case. Secrets a tool may legitimately take (an `api_key` for its own service, a
# `password` to a database it connects to) are not here: only the user's keys, the
# model's own context and other tools' state.
_SENSITIVE_NAME = re.compile(
    r"^(?:system_?prompt|(?:conversation|chat|message|dialog)_?(?:history|log|transcript)s?|"
    r"previous_?messages|prior_?messages|all_?messages|user_?messages|full_?context|"
    r"context_?window|tools?_?list|available_?tools|model_?instructions|assistant_?instructions|"
    r"developer_?instructions|hidden_?instructions|chain_?of_?thought|reasoning_?trace|"
    r"sidenote|ssh_?(?:private_?)?key|ssh_?key_?contents?|id_?rsa|id_?ed25519|"
    r"aws_?secret_?(?:access_?)?key|mcp_?config|"
    r".*(?:ssh|id_rsa|private_key|secret|password|credential|token).*(?:from|contents?|of)_.*|"
    r".*_from_reading_.*)$"
)
_SENSITIVE_WHY = {
    "system": "the model's system prompt",
    "history": "the conversation",
    "messages": "the conversation",
    "context": "the model's context",
    "tool": "the other tools the model has",
    "instructions": "the model's instructions",
    "thought": "the model's reasoning",
    "reasoning": "the model's reasoning",
    "sidenote": "a free-text side channel (the Invariant Labs `sidenote` attack)",
    "ssh": "an SSH private key",
    "rsa": "an SSH private key",
    "ed25519": "an SSH private key",
    "aws": "cloud credentials",
    "env": "the environment (where keys live)",
    "environment": "the environment (where keys live)",
    "mcp": "the client's server configuration",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _folded_name(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", _CAMEL.sub("_", name)).lower()


# ---------------------------------------------------------------------------------------
# Walking a definition


class _Text(NamedTuple):
    pointer: str
    value: str
    in_key: bool = False


def _escape_pointer(part: object) -> str:
    text = str(part)
    if "~" in text or "/" in text:
        return text.replace("~", "~0").replace("/", "~1")
    return text


def _texts(definition: Mapping[str, Any]) -> list[_Text]:
    """Every string of the definition a model reads, with its JSON Pointer."""
    texts: list[_Text] = []
    for key in ("name", "title", "description"):
        value = definition.get(key)
        if isinstance(value, str):
            texts.append(_Text(f"/{key}", value))
    for key in ("annotations", "inputSchema", "outputSchema"):
        value = definition.get(key)
        if isinstance(value, Mapping | list):
            _walk(value, f"/{key}", texts)
    return texts


def _walk(root: object, pointer: str, texts: list[_Text]) -> None:
    # Iterative, so a deeply nested schema cannot exhaust the stack; bounded in size.
    stack: list[tuple[object, str, int]] = [(root, pointer, 0)]
    while stack and len(texts) < MAX_TEXTS:
        node, at, depth = stack.pop()
        if depth >= MAX_DEPTH:
            continue
        if isinstance(node, _MAPPINGS):
            keys_are_names = at.endswith(_NAMING_KEYWORDS)
            for key, value in reversed(list(node.items())):
                child = f"{at}/{_escape_pointer(key)}"
                if keys_are_names and isinstance(key, str):
                    texts.append(_Text(child, key, in_key=True))
                if isinstance(value, str):
                    texts.append(_Text(child, value))
                elif isinstance(value, _CONTAINERS):
                    stack.append((value, child, depth + 1))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                value = node[index]
                if isinstance(value, str):
                    texts.append(_Text(f"{at}/{index}", value))
                elif isinstance(value, _CONTAINERS):
                    stack.append((value, f"{at}/{index}", depth + 1))


_NAMING_KEYWORDS = ("/properties", "/patternProperties", "/$defs", "/definitions")
# Tuples, not `X | Y` unions: isinstance over a tuple is several times faster.
_MAPPINGS = (dict, Mapping)
_CONTAINERS = (dict, list, Mapping)


# ---------------------------------------------------------------------------------------
# One tool


def scan_tool(definition: Mapping[str, Any]) -> list[Finding]:
    """Every finding in one tool definition (`tools/list` wire form), in reading order.

    Never raises on bad input: a definition that is not a mapping, or whose fields are of
    the wrong type, yields what can be read of it.
    """
    if not isinstance(definition, Mapping):
        return []
    raw_name = definition.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    hidden, keys, rules = _worth_reading(definition)
    if not (hidden or keys or rules):
        return _name_findings(name)
    findings: list[Finding] = []
    for text in _texts(definition):
        value = text.value[:MAX_TEXT_CHARS]
        if hidden:
            findings += _hidden_findings(name, text, value)
        if keys and text.in_key:
            findings += _parameter_name_findings(name, text)
        if rules:
            readable = _readable(text, value)
            if _ANY.search(readable) is not None:
                findings += _rule_findings(name, text, value, readable)
    findings += _name_findings(name)
    return findings


def _compile_key_hint() -> Any:
    # A JSON key holding a word that a sensitive parameter name needs (then checked in full).
    options = re2.Options()
    options.case_sensitive = False
    return re2.compile(
        r'"([^"\\]*(?:prompt|histor|(?:chat|message|dialog|conversation)_?log|transcript|messages|context|tool|instruction|'
        r'thought|reasoning|sidenote|ssh|rsa|ed25519|aws|mcp|(?:from|of)_|contents)[^"\\]*)"\s*:',
        options,
    )


_JSON_KEY = _compile_key_hint()


def _worth_reading(definition: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """Which checks can find anything (hidden characters, parameter names, rules).

    One pass over the definition as JSON text: serializing runs in C and the rules'
    prefilter is a DFA, so a clean definition, the common case, is never walked in
    Python. The JSON text only has to give a superset: escapes are undone where a rule
    could care (newlines, quotes), and names are also read as words.
    """
    try:
        blob = json.dumps(definition, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return True, True, True
    hidden = has_hidden(blob) or "\\u00" in blob
    keys = _JSON_KEY.search(blob) is not None and any(
        _is_sensitive_name(key) for key in _JSON_KEY.findall(blob)
    )
    rules = _ANY.search(blob.replace("\\n", "\n").replace('\\"', '"')) is not None
    return hidden, keys, rules


def _hidden_findings(tool: str, text: _Text, value: str) -> list[Finding]:
    return [_hidden_run_finding(tool, text, value, run) for run in find_hidden_runs(value)]


def _readable(text: _Text, value: str) -> str:
    # Names and enum values are often snake_case: read `read_ssh_key` as words.
    if "_" in value and (text.in_key or " " not in value):
        return value.replace("_", " ")
    return value


def _rule_findings(tool: str, text: _Text, value: str, readable: str) -> list[Finding]:
    found: list[Finding] = []
    for rule in _COMPILED:
        for count, match in enumerate(rule.pattern.finditer(readable)):
            if count >= MAX_MATCHES_PER_RULE:
                break
            if match.end() == match.start():
                continue
            found.append(
                Finding(
                    rule.kind,
                    rule.severity,
                    rule.name,
                    rule.message,
                    tool,
                    text.pointer,
                    (match.start(), match.end()),
                    escape_text(value[match.start() : match.end()]),
                    text.in_key,
                )
            )
    return found


_HIDDEN_MESSAGE = {
    "tags": ("Unicode tag characters (invisible ASCII)", Severity.CRITICAL),
    "variation_selectors": ("variation selectors carrying hidden bytes", Severity.HIGH),
    "zero_width": ("zero-width characters", Severity.HIGH),
    "bidi": ("bidirectional override or isolate characters", Severity.HIGH),
    "control": ("control characters (terminal escape sequences)", Severity.HIGH),
}


def _hidden_run_finding(tool: str, text: _Text, value: str, run: HiddenRun) -> Finding:
    kind, start, end, decoded = run.kind, run.start, run.end, run.decoded
    what, severity = _HIDDEN_MESSAGE[kind]
    message = f"{end - start} invisible character{'s' if end - start > 1 else ''}: {what}"
    if decoded:
        message += f"; they spell {escape_text(decoded, 120)!r}"
    return Finding(
        FindingKind.INVISIBLE_UNICODE,
        severity,
        f"hidden-{kind.replace('_', '-')}",
        message,
        tool,
        text.pointer,
        (start, end),
        escape_text(value[start:end]),
        text.in_key,
    )


@functools.lru_cache(maxsize=4096)
def _is_sensitive_name(name: str) -> bool:
    return _SENSITIVE_NAME.match(_folded_name(name)) is not None


def _parameter_name_findings(tool: str, text: _Text) -> list[Finding]:
    if not _is_sensitive_name(text.value):
        return []
    folded = _folded_name(text.value)
    why = next(
        (reason for word, reason in _SENSITIVE_WHY.items() if word in folded),
        "a secret or the model's context",
    )
    return [
        Finding(
            FindingKind.SENSITIVE_PARAMETER,
            Severity.HIGH,
            "sensitive-parameter",
            f"parameter {escape_text(text.value, 60)!r} asks for {why}, "
            "which a tool should not need",
            tool,
            text.pointer,
            (0, len(text.value)),
            escape_text(text.value),
            in_key=True,
        )
    ]


def _name_findings(name: str) -> list[Finding]:
    if not name or name.isascii():
        return []
    scripts = scripts_of(name)
    look = skeleton(name)
    imitates = look.isascii() and look != name.casefold()
    if len(scripts) < 2 and not imitates:
        return []
    reason = (
        f"mixes scripts ({', '.join(sorted(scripts))})"
        if len(scripts) >= 2
        else "is written in look-alike characters"
    )
    if imitates:
        reason += f" and looks like {look!r}"
    return [
        Finding(
            FindingKind.CONFUSABLE_NAME,
            Severity.HIGH,
            "confusable-name",
            f"the tool name {reason}",
            name,
            "/name",
            (0, len(name)),
            escape_text(name),
        )
    ]


# ---------------------------------------------------------------------------------------
# Across servers


def scan_servers(servers: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Finding]:
    """Every tool's findings, each with its server, plus what only shows across servers.

    Across servers: a name a server listed before (in the mapping's order) is `shadowing`;
    two different names with one skeleton are a `confusable_name`, within a server too;
    a description that names another server's tool is `shadowing`.
    """
    findings: list[Finding] = []
    owners: dict[str, str] = {}
    by_skeleton: dict[str, tuple[str, str]] = {}
    named: list[tuple[str, str, Mapping[str, Any]]] = []
    for server, tools in servers.items():
        if not isinstance(tools, Sequence):
            continue
        for tool in tools:
            if not isinstance(tool, Mapping):
                continue
            findings += [replace(f, server=server) for f in scan_tool(tool)]
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                continue
            named.append((server, name, tool))
            findings += _cross_name(server, name, owners, by_skeleton)
    findings += _cross_references(named)
    return findings


def _cross_name(
    server: str, name: str, owners: dict[str, str], by_skeleton: dict[str, tuple[str, str]]
) -> list[Finding]:
    found: list[Finding] = []
    owner = owners.get(name)
    if owner is not None and owner != server:
        found.append(
            Finding(
                FindingKind.SHADOWING,
                Severity.MEDIUM,
                "same-name",
                f"server {owner!r} already lists a tool named {escape_text(name, 60)!r}: "
                "the agent cannot tell which it calls",
                name,
                "/name",
                (0, len(name)),
                escape_text(name),
                server=server,
            )
        )
    owners.setdefault(name, server)
    look = skeleton(name)
    other = by_skeleton.get(look)
    if other is not None and other[1] != name:
        where = "this server" if other[0] == server else f"server {other[0]!r}"
        found.append(
            Finding(
                FindingKind.CONFUSABLE_NAME,
                Severity.HIGH,
                "look-alike-name",
                f"looks like {escape_text(other[1], 60)!r} of {where} (same skeleton {look!r})",
                name,
                "/name",
                (0, len(name)),
                escape_text(name),
                server=server,
            )
        )
    by_skeleton.setdefault(look, (server, name))
    return found


# A name distinctive enough that a description naming it means that tool.
_DISTINCTIVE = re.compile(
    r"^[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)+$|^[a-z]+(?:[A-Z][a-z0-9]+)+$"
)


def _cross_references(named: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[Finding]:
    servers = {server for server, _, _ in named}
    if len(servers) < 2:
        return []
    foreign: dict[str, set[str]] = {}
    for server, name, _ in named:
        if _DISTINCTIVE.match(name) and len(name) >= 6:
            foreign.setdefault(name, set()).add(server)
    if not foreign:
        return []
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(n) for n in sorted(foreign, key=len, reverse=True))
        + r")(?![\w-])"
    )
    found: list[Finding] = []
    for server, name, tool in named:
        description = tool.get("description")
        if not isinstance(description, str):
            continue
        for match in pattern.finditer(description[:MAX_TEXT_CHARS]):
            other = match[1]
            owners = foreign[other] - {server}
            if other == name or not owners or server in foreign[other]:
                continue
            found.append(
                Finding(
                    FindingKind.SHADOWING,
                    Severity.HIGH,
                    "names-other-server-tool",
                    f"the description names {other!r}, a tool of server "
                    f"{sorted(owners)[0]!r}: a tool has no business steering another server's",
                    name,
                    "/description",
                    (match.start(), match.end()),
                    escape_text(other),
                    server=server,
                )
            )
            break
    return found
