"""`callgate approvals`: list, show, approve and deny requests held by a running proxy.

    callgate approvals list [--all] [--json]
    callgate approvals show ID [--json]
    callgate approvals approve ID [--for 30m | --session] [--reason TEXT]
    callgate approvals deny ID --reason TEXT

`--state URL` names the same store as the running proxy (default: the SQLite file in the
user's data directory). `--audit PATH` appends the decision to the proxy's audit log.
Exit codes: 0 done, 1 no such approval or already settled, 2 usage, 3 store unreachable.
"""

# Imports stay inside the functions so `callgate --help` does not pay for them.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.approvals.model import Approval, ApprovalEvent


def register(subparsers: Any) -> None:
    """Add `approvals` and its sub-commands."""
    parser = subparsers.add_parser(
        "approvals",
        help="list, show, approve or deny calls waiting for approval",
        description="Operator side of require_approval: works on the running proxy's store.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state",
        metavar="URL",
        help="the proxy's store: sqlite:///PATH (default: the user data file) or redis://HOST:PORT/DB",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="pending requests (newest first)")
    listing.add_argument("--all", action="store_true", help="include settled requests")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.set_defaults(func=_run)

    show = actions.add_parser("show", parents=[common], help="one request in full")
    show.add_argument("id", metavar="ID")
    show.set_defaults(func=_run)

    deciding = argparse.ArgumentParser(add_help=False)
    deciding.add_argument("id", metavar="ID")
    deciding.add_argument("--by", metavar="NAME", help="who decides (default: the login name)")
    deciding.add_argument("--audit", metavar="PATH", help="append the decision to this audit log")

    approve = actions.add_parser("approve", parents=[common, deciding], help="let the call through")
    scope = approve.add_mutually_exclusive_group()
    scope.add_argument(
        "--for",
        dest="for_duration",
        metavar="DURATION",
        help="also let the same call through for this long (30m, 2h)",
    )
    scope.add_argument(
        "--session", action="store_true", help="also let the same call through in its session"
    )
    approve.add_argument("--reason", default="", help="why (kept in the audit log)")
    approve.set_defaults(func=_run)

    deny = actions.add_parser("deny", parents=[common, deciding], help="refuse the call")
    deny.add_argument("--reason", required=True, help="shown to the agent and audited")
    deny.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import anyio

    return anyio.run(_main, args)


async def _main(args: argparse.Namespace) -> int:
    import sys

    from callgate.approvals.store import ApprovalConflict, ApprovalNotFound
    from callgate.state.approvals_url import open_approval_store
    from callgate.state.store import StoreUnavailable
    from callgate.state.url import StoreURLError

    try:
        store = open_approval_store(args.state)
    except StoreURLError as error:
        print(f"callgate approvals: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"callgate approvals: {error}", file=sys.stderr)
        return 3
    try:
        if args.action == "list":
            return await _list(store, args)
        if args.action == "show":
            _print_one(await store.get(args.id), as_json=args.json)
            return 0
        return await _decide(store, args)
    except ApprovalNotFound as error:
        print(f"callgate approvals: {error}", file=sys.stderr)
        return 1
    except ApprovalConflict as error:
        resolution = error.current.resolution
        by = f" by {resolution.by} via {resolution.channel}" if resolution else ""
        print(f"callgate approvals: {error}{by}", file=sys.stderr)
        return 1
    except StoreUnavailable as error:
        print(f"callgate approvals: {error}", file=sys.stderr)
        return 3
    finally:
        await store.aclose()


async def _list(store: Any, args: argparse.Namespace) -> int:
    import json
    import time

    from callgate.approvals.model import Status

    statuses = None if args.all else {Status.REQUESTED}
    approvals = await store.list(statuses, limit=args.limit)
    if args.json:
        print(json.dumps([a.to_dict() for a in approvals], ensure_ascii=False, indent=2))
        return 0
    if not approvals:
        print("no approvals" if args.all else "no pending approvals")
        return 0
    print(f"{'ID':<20} {'STATUS':<10} {'SERVER':<12} {'TOOL':<24} {'AGENT':<14} ARGUMENTS")
    now = time.time()
    for approval in approvals:
        request = approval.request
        status = approval.status.value
        if approval.status is Status.REQUESTED and now >= request.expires_at:
            status = "timed-out"  # nobody was waiting to record the expiry yet
        arguments = json.dumps(dict(request.arguments), ensure_ascii=False, sort_keys=True)
        if len(arguments) > 60:
            arguments = arguments[:57] + "..."
        print(
            f"{request.id:<20} {status:<10} {request.server:<12} "
            f"{request.tool:<24} {request.agent:<14} {arguments}"
        )
    return 0


async def _decide(store: Any, args: argparse.Namespace) -> int:
    import getpass
    import sys
    import time

    from callgate.approvals.broker import approve, deny
    from callgate.approvals.model import GrantScope

    by = args.by or getpass.getuser()
    sink, close = _audit_sink(args.audit)
    now = time.time()
    try:
        if args.action == "deny":
            if not args.reason.strip():
                print("callgate approvals: deny needs a non-empty --reason", file=sys.stderr)
                return 2
            settled = await deny(
                store, args.id, by=by, channel="cli", now=now, reason=args.reason, events=sink
            )
        else:
            scope, seconds = GrantScope.ONCE, None
            if args.session:
                scope = GrantScope.SESSION
            elif args.for_duration is not None:
                from callgate.policy.schema import parse_duration

                try:
                    seconds = parse_duration(args.for_duration)
                except ValueError as error:
                    print(f"callgate approvals: --for: {error}", file=sys.stderr)
                    return 2
                scope = GrantScope.DURATION
            settled = await approve(
                store,
                args.id,
                by=by,
                channel="cli",
                now=now,
                reason=args.reason,
                scope=scope,
                for_seconds=seconds,
                events=sink,
            )
    finally:
        await close()
    _print_one(settled, as_json=args.json)
    return 0


def _audit_sink(path: str | None) -> tuple[Any, Any]:
    """An event sink appending to the audit log at `path` (or discarding), and its closer."""
    from callgate.approvals.model import discard_events

    if path is None:

        async def nothing() -> None:
            return None

        return discard_events, nothing
    from pathlib import Path

    from callgate.app import open_audit_sink

    audit = open_audit_sink(Path(path))

    def record(event: ApprovalEvent) -> None:
        audit.record(event.to_dict())

    return record, audit.aclose


def _print_one(approval: Approval, *, as_json: bool) -> None:
    import json
    from datetime import UTC, datetime

    if as_json:
        print(json.dumps(approval.to_dict(), ensure_ascii=False, indent=2))
        return

    def stamp(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    request = approval.request
    print(f"approval {request.id}: {approval.status.value}")
    print(f"  tool:      {request.tool} on server {request.server}")
    print(f"  agent:     {request.agent} (session {request.session})")
    print(f"  rule:      {request.rule or '-'}   category: {request.category or '-'}")
    print(f"  requested: {stamp(request.created_at)}, expires {stamp(request.expires_at)}")
    resolution = approval.resolution
    if resolution is not None:
        grant = ""
        if resolution.scope.value == "session":
            grant = ", for this session"
        elif resolution.until is not None:
            grant = f", until {stamp(resolution.until)}"
        print(
            f"  decided:   {resolution.status.value} by {resolution.by} via "
            f"{resolution.channel}{grant}: {resolution.reason}"
        )
    arguments = json.dumps(dict(request.arguments), ensure_ascii=False, sort_keys=True, indent=2)
    print("  arguments: " + arguments.replace("\n", "\n  "))
    if request.definition_diff:
        # The tool's definition changed since it was pinned: what the approver approves.
        print("  definition changed since it was pinned:")
        print("    " + request.definition_diff.replace("\n", "\n    "))
