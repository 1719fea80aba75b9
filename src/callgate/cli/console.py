"""`callgate console`: the operator console on its own, over the proxies' store and audit log.

    callgate console -c POLICY [--state URL] [--audit PATH] --listen HOST:PORT
                     --admin-token-env VAR [--admin-allow-remote] [--allow-host HOST]

For stdio deployments, where each MCP client starts its own `callgate run` child: the
console reads the same state store (approvals, counters) and audit directory those
proxies write, so one page serves them all. Operators' answers are written to the audit
directory too. `callgate run --listen ... --admin-token-env VAR` serves the same console at
`/console` itself. Exit codes: 0 stopped, 1 invalid policy, 2 usage, 3 store unreachable.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONSOLE_PATH = "/console"


def register(subparsers: Any) -> None:
    """Add the `console` sub-command."""
    parser = subparsers.add_parser(
        "console",
        help="serve the operator console (approvals, decisions, tools, limits, audit, policy)",
        description="Serve the operator console over the state store and audit log the "
        "proxies write: approve held calls, watch decisions live, read each tool's risk.",
    )
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="POLICY")
    parser.add_argument("--state", metavar="URL", help="sqlite:///PATH, redis://HOST:PORT/DB")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the proxies' audit directory")
    parser.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="where to serve, e.g. 127.0.0.1:8766"
    )
    parser.add_argument(
        "--admin-token-env",
        required=True,
        metavar="VAR",
        help="environment variable holding the admin token operators log in with",
    )
    parser.add_argument(
        "--admin-allow-remote",
        action="store_true",
        help="serve clients beyond loopback too",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a Host name the console answers to besides loopback (repeatable)",
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"callgate console: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Check the options, then serve until interrupted."""
    from callgate.cli.run import _listen_address

    address = _listen_address(args.listen)
    if address is None:
        return _usage(f"--listen takes HOST:PORT, got {args.listen!r}")
    token = os.environ.get(args.admin_token_env, "")
    if not token.strip():
        return _usage(f"--admin-token-env: environment variable {args.admin_token_env} is unset")

    from callgate import runtime
    from callgate.app import default_audit_path
    from callgate.console import PolicyTracker
    from callgate.state.approvals_url import open_approval_store
    from callgate.state.store import StoreUnavailable
    from callgate.state.url import StoreURLError, open_store
    from callgate.transports.security import HostPolicy, is_loopback

    tracker = PolicyTracker(args.config)
    state = tracker.check()
    if state.errors:
        print(f"callgate console: {args.config}: the policy is invalid", file=sys.stderr)
        for line, column, message in state.errors:
            print(f"  {args.config}:{line}:{column}: {message}", file=sys.stderr)
        return 1
    try:
        approvals = open_approval_store(args.state)
        counters = open_store(args.state)
    except StoreURLError as error:
        return _usage(str(error))
    except StoreUnavailable as error:
        print(f"callgate console: {error}", file=sys.stderr)
        return 3
    audit_path: Path = args.audit or default_audit_path()
    host = address[0]
    policy = HostPolicy.allowing([*args.allow_host, *([] if is_loopback(host) else [host])])

    opened = _Opened(tracker, approvals, counters, audit_path, policy, address)
    return runtime.run(_serve, args, token, opened)


@dataclass(frozen=True, slots=True)
class _Opened:
    """What `run` checked and opened, for `_serve`."""

    tracker: Any
    approvals: Any
    counters: Any
    audit_path: Path
    host_policy: Any
    address: tuple[str, int]


async def _serve(args: argparse.Namespace, token: str, opened: _Opened) -> int:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from callgate.app import audit_key_path, open_audit_sink
    from callgate.approvals.model import ApprovalEvent
    from callgate.console import ConsoleSources, build_console_app

    host, port = opened.address
    approvals, counters = opened.approvals, opened.counters
    audit = open_audit_sink(opened.audit_path)

    def record(event: ApprovalEvent) -> None:
        audit.record(event.to_dict())

    sources = ConsoleSources(
        approvals=approvals,
        policy=opened.tracker,
        audit_path=opened.audit_path,
        audit_key_path=audit_key_path(),
        events=record,
        counters=counters,
    )
    console = build_console_app(
        sources, token=token, allow_remote=args.admin_allow_remote, host_policy=opened.host_policy
    )

    async def home(request: Any) -> Any:
        return RedirectResponse(f"{CONSOLE_PATH}/", status_code=303)

    app = Starlette(routes=[Route("/", home), Mount(CONSOLE_PATH, app=console)])
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"callgate console on http://{shown}:{port}{CONSOLE_PATH}/ "
        f"(log in with the token in {args.admin_token_env})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await server.serve()
    finally:
        await audit.aclose()
        await approvals.aclose()
        await counters.aclose()
    return 0
