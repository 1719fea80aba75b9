"""`callgate run`: the proxy, in stdio or Streamable HTTP mode.

    callgate run -c POLICY [--state URL] [--audit PATH] -- CMD ARGS...    stdio, child upstream
    callgate run -c POLICY --upstream URL [--header "K: V"]...            stdio, HTTP upstream
    callgate run -c POLICY --listen HOST:PORT (--upstream URL | -- CMD)   HTTP listener

Nothing but protocol is written to stdout in stdio mode; every log line goes to stderr.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `run` sub-command."""
    parser = subparsers.add_parser(
        "run",
        help="run the proxy in front of an MCP server",
        description="Run callgate in front of an MCP server; every tools/call is judged "
        "against the policy before it reaches the server.",
    )
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="POLICY")
    parser.add_argument("--state", metavar="URL", help="sqlite:///PATH, redis://HOST:PORT/DB")
    parser.add_argument(
        "--audit", type=Path, metavar="PATH", help="audit directory (one chained log per writer)"
    )
    parser.add_argument("--no-audit", action="store_true", help="do not write an audit log")
    parser.add_argument(
        "--agent",
        metavar="NAME",
        help="agent identity (stdio: default the upstream's name; --listen: the agent of "
        "requests when the policy has no agents:, default anonymous)",
    )
    parser.add_argument("--server-name", metavar="NAME", help="upstream name in counters and audit")
    parser.add_argument("--upstream", metavar="URL", help="Streamable HTTP upstream")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"K: V"',
        help="header sent to the HTTP upstream (repeatable)",
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="serve Streamable HTTP at /mcp")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a Host name the listener answers to besides loopback (repeatable)",
    )
    parser.add_argument(
        "--max-message-bytes", type=int, default=None, metavar="N", help="per-message limit"
    )
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how often the policy file is checked for edits",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="after this, an unanswered call's counters are rolled back (and a batched "
        "request is answered with a timeout error)",
    )
    parser.add_argument(
        "--admin-token-env",
        metavar="VAR",
        help="with --listen: serve the approvals admin API at /admin/approvals and the "
        "operator console at /console, guarded by the token in environment variable VAR "
        "(loopback clients only)",
    )
    parser.add_argument(
        "--admin-allow-remote",
        action="store_true",
        help="serve the admin API to clients beyond loopback too",
    )
    parser.add_argument(
        "--approval-progress",
        type=_positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="interval of progress notifications while a call waits for approval",
    )
    telemetry = parser.add_argument_group("metrics and traces (docs/metrics.md)")
    telemetry.add_argument(
        "--metrics",
        action="store_true",
        help="keep Prometheus metrics; with --listen they are served at /metrics (loopback "
        "clients, or the admin token)",
    )
    telemetry.add_argument(
        "--metrics-dir",
        type=Path,
        metavar="DIR",
        help="write metrics to a Prometheus multiprocess directory shared by many proxies "
        "(implies --metrics)",
    )
    telemetry.add_argument(
        "--pushgateway",
        metavar="URL",
        help="push metrics to a Prometheus pushgateway every --push-interval seconds and at "
        "exit (implies --metrics)",
    )
    telemetry.add_argument(
        "--push-interval",
        type=_positive_seconds,
        default=15.0,
        metavar="SECONDS",
        help="seconds between two pushes to the pushgateway",
    )
    telemetry.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="export one OpenTelemetry span per tools/call over OTLP/HTTP to this collector "
        "(default: $OTEL_EXPORTER_OTLP_ENDPOINT; needs callgate[otlp])",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    parser.set_defaults(func=run)


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {value!r}")
    return seconds


def _usage(message: str) -> int:
    print(f"callgate run: {message}", file=sys.stderr)
    return 2


def _headers(values: list[str]) -> dict[str, str] | None:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, rest = value.partition(":")
        if not colon or not name.strip():
            return None
        headers[name.strip()] = rest.strip()
    return headers


def _listen_address(value: str) -> tuple[str, int] | None:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) < 65536:
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one flat CLI dispatch
    """Check the options, load the policy, and proxy until the session ends."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if bool(command) == bool(args.upstream):
        return _usage("give exactly one upstream: --upstream URL or -- CMD ARGS...")
    headers = _headers(args.header)
    if headers is None:
        return _usage('--header takes "Name: value"')
    if headers and not args.upstream:
        return _usage("--header applies to an --upstream URL only")
    address = _listen_address(args.listen) if args.listen else None
    if args.listen and address is None:
        return _usage(f"--listen takes HOST:PORT, got {args.listen!r}")
    admin_token = _admin_token(args, address is not None)
    if isinstance(admin_token, int):
        return admin_token
    settings = _telemetry_settings(args, address is not None)
    if isinstance(settings, int):
        return settings

    from callgate import runtime
    from callgate.app import GateOptions, load_policy_watcher, open_gate
    from callgate.approvals.store import ApprovalSetupError
    from callgate.audit.directory import AuditSetupError
    from callgate.errors import PolicyError
    from callgate.policy.decision import Agent
    from callgate.proxy.jsonrpc import MAX_MESSAGE_BYTES
    from callgate.state.url import StoreURLError
    from callgate.telemetry.settings import TracingSetupError

    telemetry: Any = None
    if settings.wanted:
        # prometheus_client and the OpenTelemetry SDK are imported only when asked for.
        from callgate.telemetry.assembly import build_telemetry

        try:
            telemetry = build_telemetry(settings)
        except TracingSetupError as error:
            print(f"callgate: {error}", file=sys.stderr)
            return 2

    options = GateOptions(
        policy_path=args.config,
        state_url=args.state,
        audit_path=args.audit,
        audit=not args.no_audit,
        reload_interval=args.reload_interval,
        call_timeout=args.call_timeout,
        max_message_bytes=args.max_message_bytes or MAX_MESSAGE_BYTES,
        # A stdio session is this process's one connection: nothing else can share it.
        session_local=address is None,
    )
    try:
        watcher = load_policy_watcher(options, telemetry)
    except PolicyError as error:
        print(f"callgate: {args.config}: the policy is invalid", file=sys.stderr)
        for issue in error.issues:
            print(f"  {issue.render()}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"callgate: cannot read the policy {args.config}: {error}", file=sys.stderr)
        return 1
    if address is not None and not _is_loopback(address[0]) and not watcher.current().agents:
        return _usage(
            f"--listen {args.listen} is beyond loopback: the policy must name its agents "
            "(agents: with bearer tokens); without them callgate serves loopback only"
        )
    server = args.server_name or _server_name(args.upstream, command)
    # stdio carries one agent, named after the upstream unless told; over HTTP agents
    # authenticate, and without `agents:` every request is this one (anonymous by default).
    agent = Agent(args.agent or ("anonymous" if address is not None else server))

    async def serve() -> int:
        from contextlib import nullcontext

        from callgate.approvals.interceptor import ClientApprovalInterceptor
        from callgate.proxy.announcer import ToolListAnnouncer

        # Clients that listed tools are told when a reload hides or shows some.
        announcer = ToolListAnnouncer()
        running: Any = nullcontext()
        if telemetry is not None:
            from callgate.telemetry.assembly import run_telemetry

            running = run_telemetry(telemetry, settings)
        async with (
            running,
            open_gate(options, watcher, announcer=announcer, telemetry=telemetry) as bare_gate,
        ):
            # Approvals asked in the client, progress while a call waits.
            gate = ClientApprovalInterceptor(bare_gate, progress_interval=args.approval_progress)
            if address is not None:
                from callgate.proxy.identity import audit_refusals, build_authenticator
                from callgate.transports.http_listener import serve_http

                # Beyond loopback, a reload that drops every agent refuses everyone.
                default = agent if _is_loopback(address[0]) else None
                authenticate = build_authenticator(
                    lambda: watcher.current().agents, default=default
                )
                admin = console = None
                if admin_token is not None:
                    if watcher.current().agents and authenticate(_bearer(admin_token)):
                        return _usage("the admin token must differ from every agent's token")
                    admin = _admin_app(bare_gate, admin_token, args.admin_allow_remote)
                    console = _console_app(
                        bare_gate, watcher, options, admin_token, args.admin_allow_remote
                    )
                metrics = None
                if telemetry is not None and telemetry.metrics is not None:
                    from callgate.telemetry.assembly import scrape_registry
                    from callgate.telemetry.exposition import build_metrics_app

                    metrics = build_metrics_app(
                        scrape_registry(telemetry, settings), token=admin_token
                    )

                return await serve_http(
                    gate,
                    address[0],
                    address[1],
                    args.upstream or command,
                    headers=headers,
                    server=server,
                    agent=agent,
                    authenticate=audit_refusals(authenticate, bare_gate.audit, server),
                    max_message_bytes=options.max_message_bytes,
                    allowed_hosts=args.allow_host,
                    admin=admin,
                    metrics=metrics,
                    console=console,
                    announcer=announcer,
                    call_timeout=options.call_timeout,
                )
            if args.upstream:
                from callgate.transports.http_upstream import run_stdio_to_http

                return await run_stdio_to_http(
                    gate,
                    args.upstream,
                    headers,
                    server=server,
                    agent=agent,
                    max_message_bytes=options.max_message_bytes,
                    announcer=announcer,
                    call_timeout=options.call_timeout,
                )
            from callgate.transports.stdio import run_stdio

            return await run_stdio(
                gate,
                command,
                server=server,
                agent=agent,
                max_bytes=options.max_message_bytes,
                call_timeout=options.call_timeout,
                announcer=announcer,
            )

    try:
        return runtime.run(serve)
    except (StoreURLError, ApprovalSetupError, AuditSetupError) as error:
        print(f"callgate: {error}", file=sys.stderr)
        return 2


def _admin_token(args: argparse.Namespace, listening: bool) -> str | int | None:
    """The admin API token from `--admin-token-env`, None without it, or a usage exit."""
    if args.admin_token_env is None:
        if args.admin_allow_remote:
            return _usage("--admin-allow-remote needs --admin-token-env")
        return None
    if not listening:
        return _usage("--admin-token-env needs --listen (the admin API is served there)")
    token = os.environ.get(args.admin_token_env, "")
    if not token.strip():
        variable = args.admin_token_env
        return _usage(f"--admin-token-env: environment variable {variable} is unset or empty")
    return token


def _telemetry_settings(args: argparse.Namespace, listening: bool) -> Any:
    """The `TelemetrySettings` the flags and the OTEL_* variables ask for, or a usage exit."""
    from callgate.telemetry.settings import (
        TelemetrySettings,
        otlp_endpoint_from_env,
        traces_endpoint,
    )

    settings = TelemetrySettings(
        metrics=args.metrics,
        directory=args.metrics_dir,
        pushgateway=args.pushgateway,
        push_interval=args.push_interval,
        otlp_endpoint=(
            traces_endpoint(args.otlp_endpoint) if args.otlp_endpoint else otlp_endpoint_from_env()
        ),
    )
    if settings.metrics and not listening and not (settings.directory or settings.pushgateway):
        return _usage(
            "--metrics without --listen needs --metrics-dir DIR or --pushgateway URL "
            "(a stdio proxy serves no HTTP to scrape)"
        )
    return settings


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _broker(gate: Any) -> Any:
    """The running proxy's approval broker; operators can now answer through this process,
    even on a process-local store."""
    from callgate.approvals.seam import GateApprovals
    from callgate.telemetry.recorder import HeldApprovals

    approvals = gate.approvals
    if isinstance(approvals, HeldApprovals):  # counted for the metrics: the seam inside
        approvals = approvals.inner
    assert isinstance(approvals, GateApprovals)
    approvals.broker.operator_reachable = True
    return approvals.broker


def _admin_app(gate: Any, token: str, allow_remote: bool) -> Any:
    """The approvals admin API over the running proxy's approval store."""
    from callgate.approvals.admin import build_admin_app

    broker = _broker(gate)
    return build_admin_app(
        broker.store, token=token, events=broker.events, allow_remote=allow_remote
    )


def _console_app(gate: Any, watcher: Any, options: Any, token: str, allow_remote: bool) -> Any:
    """The operator console over the running proxy's store, audit log, policy and tools."""
    from callgate.app import audit_key_path, default_audit_path
    from callgate.console import ConsoleSources, PolicyTracker, build_console_app

    broker = _broker(gate)
    tracker = PolicyTracker(options.policy_path, in_force=watcher.current)
    watcher.subscribe(tracker.reloaded)
    audit_path = (options.audit_path or default_audit_path()) if options.audit else None
    sources = ConsoleSources(
        approvals=broker.store,
        policy=tracker,
        audit_path=audit_path,
        audit_key_path=audit_key_path(),
        events=broker.events,
        counters=gate.store,
    )
    sources.watch(gate.catalog)
    return build_console_app(sources, token=token, allow_remote=allow_remote)


def _is_loopback(host: str) -> bool:
    from callgate.transports.security import is_loopback

    return is_loopback(host)


_LAUNCHERS = frozenset({"python", "python3", "node", "npx", "uv", "uvx", "deno", "bun", "pipx"})


def _server_name(url: str | None, command: list[str]) -> str:
    """A stable default name for the upstream: the URL's host, or what the command runs.

    Launchers are looked through: `python -m pkg.server` is `pkg.server`, `npx -y
    @scope/server-x` is `@scope/server-x`, `uvx mcp-server-time` is `mcp-server-time`.
    """
    if url:
        from urllib.parse import urlsplit

        return urlsplit(url).netloc or url
    name = Path(command[0]).name
    if name.rstrip("0123456789.") not in _LAUNCHERS:
        return name
    rest = [arg for arg in command[1:] if arg != "run" and not arg.startswith("-")]
    return Path(rest[0]).name if rest else name
