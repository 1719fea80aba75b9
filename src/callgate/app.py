"""The composition root: builds policy, counter store, audit sink and gate from options.

Every concrete piece is chosen here and nowhere else; transports and the CLI receive a
ready `Gate`. `open_gate` owns the lifetimes: the policy watcher runs while the gate is
in use, and on the way out the audit log is flushed and the store closed.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from callgate.approvals.assembly import open_approvals
from callgate.audit.directory import prepare_directory
from callgate.audit.redaction import ArgumentRecording
from callgate.audit.sink import AuditSink, JsonlAuditSink, NullAuditSink, load_install_key
from callgate.classifier import CategoryChange, ToolCategories
from callgate.integrity.pinning import Pinning, scan_definition
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.proxy.announcer import ToolListAnnouncer
from callgate.proxy.catalog import ToolCatalog
from callgate.proxy.gate import Approvals, Gate
from callgate.proxy.jsonrpc import MAX_MESSAGE_BYTES
from callgate.proxy.reload import PolicyWatcher, report_invalid
from callgate.state.split import SessionLocalStore
from callgate.state.url import default_sqlite_path, open_store

if TYPE_CHECKING:
    from callgate.telemetry.recorder import Telemetry


def data_dir() -> Path:
    """callgate's per-user data directory (`$XDG_DATA_HOME/callgate`)."""
    return default_sqlite_path().parent


def default_audit_path() -> Path:
    """The audit directory used when `--audit` is not given."""
    return data_dir() / "audit"


def readable_audit_path() -> Path:
    """The log the reading commands use without `--audit`: the default directory, or the
    single-file log of earlier versions while no directory exists yet."""
    directory = default_audit_path()
    old = data_dir() / "audit.jsonl"
    return old if not directory.exists() and old.is_file() else directory


def audit_key_path() -> Path:
    """The install's audit key (HMAC): it chains the log and hashes arguments."""
    return data_dir() / "audit.key"


def open_audit_sink(
    directory: Path, recording: Callable[[], ArgumentRecording] | None = None
) -> JsonlAuditSink:
    """A chained audit log in `directory` under the install key (an old single-file log
    at that path is moved aside first, and stderr says so)."""
    note = prepare_directory(directory)
    if note is not None:
        print(f"callgate: {note}", file=sys.stderr)
    key = load_install_key(audit_key_path())
    if recording is None:
        return JsonlAuditSink(directory, key)
    return JsonlAuditSink(directory, key, recording=recording)


@dataclass(frozen=True, slots=True)
class GateOptions:
    """What the CLI decides about one proxy run."""

    policy_path: Path
    state_url: str | None = None
    audit_path: Path | None = None
    audit: bool = True
    reload_interval: float = 0.5
    call_timeout: float = 600.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    session_local: bool = False
    """Sessions live and die with this process (stdio): keep their counters in memory."""


def load_policy_watcher(
    options: GateOptions, telemetry: Telemetry | None = None
) -> PolicyWatcher[CompiledPolicy]:
    """Load the policy (raising `PolicyError` with every issue) and prepare to watch it.

    With `telemetry`, every edit is counted: applied, or rejected as invalid.
    """
    report = report_invalid if telemetry is None else telemetry.count_rejections(report_invalid)
    watcher = PolicyWatcher(
        options.policy_path, load_compiled_policy, interval=options.reload_interval, report=report
    )
    if telemetry is not None:
        watcher.subscribe(telemetry.on_reload)
    return watcher


def _log_category_change(change: CategoryChange) -> None:
    print(f"callgate: {change.describe()}", file=sys.stderr)


def build_classifier(catalog: ToolCatalog) -> ToolCategories:
    """The classifier's verdict on every tool `catalog` learns (redefinitions logged).

    The gate asks it for a tool's category and flags (from the listed definition when
    seen, from the name alone otherwise) and for the verdict it annotates listings with.
    """
    categories = ToolCategories(on_change=_log_category_change)
    catalog.subscribe(categories.learn)
    return categories


def build_pinning(watcher: PolicyWatcher[CompiledPolicy], policy_path: Path) -> Pinning:
    """The pin check of the policy in force (`integrity:`; it costs nothing without), its
    lock found beside the policy. A lock that cannot be read is said on stderr now."""
    pinning = Pinning(
        lambda: watcher.current().integrity, base=policy_path.parent, scan=scan_definition
    )
    pinning.check_lock()
    return pinning


@asynccontextmanager
async def open_gate(
    options: GateOptions,
    watcher: PolicyWatcher[CompiledPolicy] | None = None,
    approvals: Approvals | None = None,
    announcer: ToolListAnnouncer | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[Gate]:
    """A ready gate; the policy is watched for edits until the block ends.

    With `announcer`, the gate records listed tools in its catalog and every valid reload
    that changes what is hidden is announced to the sessions the transports enrol there.
    With `telemetry`, every call's decision and answer is observed, store failures and
    calls held for approval are counted (the caller runs it: `run_telemetry`).
    """
    watcher = watcher or load_policy_watcher(options, telemetry)
    if watcher.current().fail_open:
        print(
            "callgate: fail_mode: open: when the state store cannot be reached, calls are "
            "allowed without their rate limits and counters",
            file=sys.stderr,
        )
    store = open_store(options.state_url)
    if telemetry is not None:
        store = telemetry.watch_store(store)
    if options.session_local:
        store = SessionLocalStore(store)
    audit: AuditSink = NullAuditSink()
    try:
        if options.audit:
            audit = open_audit_sink(
                options.audit_path or default_audit_path(),
                lambda: watcher.current().audit_recording,
            )
        async with open_approvals(
            lambda: watcher.current().approvals, options.state_url, audit.record
        ) as own:
            catalog = announcer.catalog if announcer is not None else ToolCatalog()
            if announcer is not None:
                watcher.subscribe(announcer.on_reload)
            risk = build_classifier(catalog)
            chosen: Approvals = approvals or own
            if telemetry is not None:
                telemetry.attach(catalog, risk.category_of)
                chosen = telemetry.watch_approvals(chosen)
            integrity = build_pinning(watcher, options.policy_path)
            gate = Gate(
                policy=watcher,
                store=store,
                audit=audit,
                approvals=chosen,
                categorize=risk.category_of,
                flag=risk.flags_of,
                classify=risk.classify,
                call_timeout=options.call_timeout,
                catalog=catalog,
                telemetry=telemetry,
                integrity=integrity,
            )
            own.categorize = gate.categorize  # approval prompts show the risk category
            own.definition_diff = integrity.diff_of  # and how a pinned tool changed
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(watcher.watch)
                    await group.start(gate.run_settler)
                    try:
                        yield gate
                    finally:
                        group.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await gate.settle_answered()
    finally:
        await audit.aclose()
        try:
            await store.aclose()
        except Exception as exc:  # shutdown must finish: say why, go on
            print(f"callgate: closing the state store failed: {exc}", file=sys.stderr)
