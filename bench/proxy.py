"""What callgate adds to a tool call: sequential `tools/call` round trips, several ways.

    python bench/proxy.py [--calls N] [--warmup N] [--mode legacy|auto] [--telemetry]
                          [--json FILE]

For stdio and for Streamable HTTP, the official SDK client times the same `echo` call
    direct           client -> upstream (an SDK MCPServer)
    byte-relay       (stdio) client -> a plain line-copying relay on asyncio's loop -> upstream
    relay            client -> callgate's own transports with the PassThrough interceptor (the
                     same code and event loop as callgate, nothing judged) -> upstream
    callgate         client -> `callgate run` with a realistic policy (about 20 rules,
                     conditions, per-session rate limits that never fire, SQLite state, an
                     audit log) -> upstream
    callgate-global  (stdio) the same with the all-tools limit scoped `global`, so every call
                     also writes the SQLite file (a stdio session's own counters stay in memory)
    callgate-mem     (http) callgate with `--state memory://`, to show what SQLite costs
    callgate-telemetry  (with --telemetry) callgate with metrics and traces on as well:
                     stdio `--metrics-dir`, HTTP `--metrics`, both `--otlp-endpoint` to a
                     local sink that accepts every OTLP export (the `otlp-sink` role)
    fastmcp          client -> FastMCP 4.1.2 `create_proxy` -> upstream
and prints p50, p99, the p50 each proxy adds over direct (paired round by round), the
proxy process's peak RSS, and the ratios against their targets: callgate's added p50
<= 1.5x the plain byte relay's (over HTTP, where there is no byte relay here, the relay's)
and <= 0.2x FastMCP's; callgate's peak RSS < 80 MB. The ratio against the pass-through
relay (what judging costs on top of callgate's own transport) is printed as a diagnostic.

The same file also runs the pieces as processes (`upstream`, `relay`, `byte-relay`,
`fastmcp`, `otlp-sink` roles).
"""

# Each role imports only what it runs, so a proxy's RSS is its own and not the bench's.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
PYTHON = sys.executable
SELF = [PYTHON, str(HERE)]
START_TIMEOUT = 60.0
TARGET_RELAY_RATIO = 1.5
TARGET_FASTMCP_RATIO = 0.2
TARGET_RSS_MB = 80.0

POLICY = """\
version: "1"
default: allow
hide: [debug_dump, "internal_*"]
tools:
  echo:
    rules:
      - name: "echo-rate"
        rate_limit: 1000000/minute
      - name: "echo-size"
        on_deny: "messages are limited to 4 KiB"
        conditions:
          - {path: args.message, op: length_lte, value: 4096}
      - name: "echo-no-secrets"
        on_deny: "messages must not carry credentials"
        conditions:
          - {path: args.message, op: not_regex, value: "(?i)(api[_-]?key|password)"}
  refund:
    rules:
      - name: "refund-cap"
        on_deny: "refunds above 100 need a human"
        conditions:
          - {path: args.amount, op: lte, value: 100}
      - name: "refund-currency"
        conditions:
          - {path: args.currency, op: in, value: [USD, EUR]}
      - name: "refund-rate"
        rate_limit: 10/hour
  run_command:
    rules:
      - name: "no-sudo"
        conditions:
          - {path: args.command, op: not_regex, value: "^sudo "}
      - name: "command-rate"
        rate_limit: 30/minute
  write_file:
    rules:
      - name: "tmp-only"
        conditions:
          - {path: args.path, op: path_within, value: /tmp}
      - name: "write-rate"
        rate_limit: 60/minute
  fetch_url:
    rules:
      - name: "known-hosts"
        conditions:
          - {path: args.url, op: url_host_in, value: [example.com, api.github.com]}
  query_db:
    rules:
      - name: "select-only"
        conditions:
          - {path: args.sql, op: regex, value: "(?i)^select "}
      - name: "query-rate"
        rate_limit: 120/minute
  drop_table:
    rules:
      - name: "no-drops"
        action: deny
        on_deny: "tables are never dropped by agents"
  "delete_*":
    rules:
      - name: "no-deletes"
        action: deny
        on_deny: "deletions go through the admin console"
  "send_*":
    rules:
      - name: "send-rate"
        rate_limit: 20/hour
      - name: "internal-recipients"
        conditions:
          - {path: args.to, op: regex, value: "@example\\\\.com$"}
  "*":
    rules:
      - name: "all-tools-rate"
        rate_limit: 1000000/hour
"""


GLOBAL_POLICY = "global.yaml"
GLOBAL_LIMIT = "rate_limit: {max: 1000000, window: hour, scope: global}"
"""The all-tools limit shared by every session: each call then writes the state file."""


# --- the pieces, run as processes ------------------------------------------------------------


def serve_upstream(port: int | None) -> None:
    """The upstream: an SDK MCPServer with an `echo` tool, over stdio or HTTP on `port`."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="bench-upstream", log_level="WARNING")

    @server.tool(description="Echo the message back.")
    def echo(message: str) -> str:
        return message

    if port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=port)


def serve_relay(port: int | None, upstream: str | None, command: list[str]) -> None:
    """callgate's transports with the PassThrough interceptor: the plain byte relay."""
    import functools

    from callgate import runtime
    from callgate.proxy.hooks import PassThrough

    # The same transports on the same event loop as `callgate run`: only the gate differs.
    if port is None:
        from callgate.transports.stdio import run_stdio

        sys.exit(runtime.run(functools.partial(run_stdio, PassThrough(), command, server="relay")))
    from callgate.transports.http_listener import serve_http

    assert upstream is not None
    serve = functools.partial(
        serve_http, PassThrough(), "127.0.0.1", port, upstream, server="relay"
    )
    runtime.run(serve)


def serve_byte_relay(port: int | None, upstream: str | None, command: list[str]) -> None:
    """A plain byte relay over stdio: lines copied both ways, nothing parsed, asyncio's loop.

    `CALLGATE_EVENT_LOOP=uvloop` runs the same relay on uvloop.
    """
    import asyncio

    async def pipe_to(reader: asyncio.StreamReader, write: Any, drain: Any) -> None:
        while line := await reader.readline():
            write(line)
            await drain()

    async def relay() -> int:
        loop = asyncio.get_running_loop()
        child = await asyncio.create_subprocess_exec(
            *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert child.stdin is not None and child.stdout is not None
        stdin = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        out, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout)

        async def no_drain() -> None:
            return None

        upward = asyncio.create_task(pipe_to(stdin, child.stdin.write, child.stdin.drain))
        await pipe_to(child.stdout, out.write, no_drain)
        upward.cancel()
        return await child.wait()

    if os.environ.get("CALLGATE_EVENT_LOOP") == "uvloop":
        import uvloop

        sys.exit(uvloop.run(relay()))
    sys.exit(asyncio.run(relay()))


def serve_fastmcp(port: int | None, upstream: str | None, command: list[str]) -> None:
    """FastMCP's `create_proxy` in front of the upstream."""
    os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
    from fastmcp.server import create_proxy

    if port is None:
        config = {"mcpServers": {"upstream": {"command": command[0], "args": command[1:]}}}
        create_proxy(config).run(transport="stdio", show_banner=False)
    else:
        assert upstream is not None, "--port needs --upstream"
        proxy = create_proxy(upstream)
        proxy.run(transport="http", host="127.0.0.1", port=port, show_banner=False)


def serve_otlp_sink(port: int | None, upstream: str | None, command: list[str]) -> None:
    """A stand-in OTLP/HTTP collector: reads each export and answers 200, keeps nothing."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    assert port is not None, "otlp-sink needs --port"
    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    """One way of reaching the upstream, timed."""

    transport: str
    path: str
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    peak_rss_mb: float | None


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(process: subprocess.Popen[bytes], port: int) -> None:
    """Block until the process listens on `port` (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{process.args!r} is not listening on {port}") from None
            time.sleep(0.02)  # the only event is the socket itself


@contextmanager
def listening(command: Sequence[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run an HTTP peer, its output (uvicorn logs to both) to `log`, until the block ends."""
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            list(command), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
        )
    try:
        wait_for_port(process, port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MB, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def child_pid(marker: str) -> int | None:
    """The pid of our child process whose command line contains `marker`."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == me and marker in cmdline:
            return int(entry.name)
    return None


@asynccontextmanager
async def connected(target: str | list[str], mode: str) -> AsyncIterator[Any]:
    """An SDK client on a URL or on a command's stdio."""
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    server: Any = target
    if isinstance(target, list):
        server = StdioServerParameters(command=target[0], args=target[1:], cwd=ROOT)
    async with Client(server, mode=mode) as client:
        yield client


@dataclass(frozen=True, slots=True)
class Route:
    """One way to reach the upstream: a URL or a command, and how to find the proxy's pid."""

    name: str
    target: str | list[str]
    proxy: int | str | None = None  # a pid, or a marker in our child's command line


async def time_paths(
    transport: str, paths: list[Route], mode: str, calls: int, warmup: int
) -> list[Measurement]:
    """Time sequential echo calls over every path, interleaved round by round.

    All clients stay connected and each round calls every path once, in an order that
    rotates, so load from anything else on the machine falls on every path alike.
    """
    timings: dict[str, list[float]] = {path.name: [] for path in paths}
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connected(p.target, mode)) for p in paths]
        pairs = list(zip(paths, clients, strict=True))
        for index in range(warmup + calls):
            shift = index % len(pairs)
            for path, client in pairs[shift:] + pairs[:shift]:
                started = time.perf_counter_ns()
                result = await client.call_tool("echo", {"message": f"call {index}"})
                elapsed = (time.perf_counter_ns() - started) / 1e6
                if result.is_error:
                    raise SystemExit(f"echo failed through {path.name}: {result.content}")
                if index >= warmup:
                    timings[path.name].append(elapsed)
        rss = {path.name: proxy_rss(path.proxy) for path in paths}
    direct = timings[paths[0].name]
    return [summarise(transport, p.name, timings[p.name], direct, rss[p.name]) for p in paths]


def proxy_rss(proxy: int | str | None) -> float | None:
    """Peak RSS of the proxy process named by pid or command-line marker."""
    pid = child_pid(proxy) if isinstance(proxy, str) else proxy
    return peak_rss_mb(pid) if pid is not None else None


def summarise(
    transport: str, path: str, timings: list[float], direct: list[float], rss: float | None
) -> Measurement:
    """p50 and p99 of one series, and the median of what it added over direct, round by round.

    Pairing each call with the direct call of the same round cancels load that comes and
    goes on the machine, which a difference of two separate medians would not.
    """
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    added = statistics.median(t - d for t, d in zip(timings, direct, strict=True))
    return Measurement(transport, path, statistics.median(ordered), p99, added, rss)


def callgate_run(work: Path, state: str, name: str, policy_file: str = "policy.yaml") -> list[str]:
    """`callgate run` with the realistic policy, its own state and an audit log."""
    policy = str(work / policy_file)
    audit = str(work / f"{name}-audit.jsonl")
    return [PYTHON, "-m", "callgate", "run", "-c", policy, "--state", state, "--audit", audit]


def telemetry_flags(args: argparse.Namespace, *metrics: str) -> list[str]:
    """`callgate run` flags for metrics (`metrics`) and traces to the bench's OTLP sink."""
    return [*metrics, "--otlp-endpoint", args.otlp_sink]


async def measure_stdio(work: Path, args: argparse.Namespace) -> list[Measurement]:
    """The stdio paths."""
    upstream = [*SELF, "upstream", "--stdio"]
    paths = [
        Route("direct", upstream),
        Route("byte-relay", [*SELF, "byte-relay", "--stdio", "--", *upstream], "byte-relay"),
        Route("relay", [*SELF, "relay", "--stdio", "--", *upstream], "relay --stdio"),
        Route(
            "callgate",
            [*callgate_run(work, f"sqlite:///{work}/stdio.db", "stdio"), "--", *upstream],
            "stdio.db",
        ),
        Route(
            "callgate-global",
            [
                *callgate_run(work, f"sqlite:///{work}/global.db", "global", GLOBAL_POLICY),
                "--",
                *upstream,
            ],
            "global.db",
        ),
        Route("fastmcp", [*SELF, "fastmcp", "--stdio", "--", *upstream], "fastmcp --stdio"),
    ]
    if args.telemetry:
        command = callgate_run(work, f"sqlite:///{work}/stdio-telemetry.db", "stdio-telemetry")
        flags = telemetry_flags(args, "--metrics-dir", str(work / "metrics"))
        target = [*command, *flags, "--", *upstream]
        paths.insert(4, Route("callgate-telemetry", target, "stdio-telemetry.db"))
    return await time_paths("stdio", paths, args.mode, args.calls, args.warmup)


async def measure_http(work: Path, args: argparse.Namespace) -> list[Measurement]:
    """The Streamable HTTP paths, all in front of one upstream server."""
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}/mcp"
    names = ["relay", "callgate", "callgate-mem", "fastmcp"]
    if args.telemetry:
        names.insert(2, "callgate-telemetry")
    ports = {name: free_port() for name in names}
    listen = {
        name: ["--listen", f"127.0.0.1:{port}", "--upstream", up_url]
        for name, port in ports.items()
    }
    commands = {
        "relay": [*SELF, "relay", "--port", str(ports["relay"]), "--upstream", up_url],
        "callgate": [*callgate_run(work, f"sqlite:///{work}/http.db", "http"), *listen["callgate"]],
        "callgate-mem": [*callgate_run(work, "memory://", "http-mem"), *listen["callgate-mem"]],
        "fastmcp": [*SELF, "fastmcp", "--port", str(ports["fastmcp"]), "--upstream", up_url],
    }
    if args.telemetry:
        commands["callgate-telemetry"] = [
            *callgate_run(work, f"sqlite:///{work}/http-telemetry.db", "http-telemetry"),
            *listen["callgate-telemetry"],
            *telemetry_flags(args, "--metrics"),
        ]
    commands = {name: commands[name] for name in names}
    with ExitStack() as stack:
        upstream = [*SELF, "upstream", "--port", str(up_port)]
        stack.enter_context(listening(upstream, up_port, work / "upstream.log"))
        paths = [Route("direct", up_url)]
        for name, command in commands.items():
            process = stack.enter_context(listening(command, ports[name], work / f"{name}.log"))
            paths.append(Route(name, f"http://127.0.0.1:{ports[name]}/mcp", process.pid))
        return await time_paths("http", paths, args.mode, args.calls, args.warmup)


def report(results: list[Measurement], args: argparse.Namespace) -> dict[str, Any]:
    """Print the table and the ratios; return them as data."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"tools/call round trips: {args.calls} sequential calls, mode {args.mode}")
    for column in ("transport", "path", "p50 ms", "p99 ms", "added p50 ms", "peak RSS MB"):
        table.add_column(column, justify="left" if column in ("transport", "path") else "right")
    summary: dict[str, Any] = {"measurements": [asdict(m) for m in results], "ratios": {}}
    for transport in ("stdio", "http"):
        rows = {m.path: m for m in results if m.transport == transport}
        for m in rows.values():
            added = m.added_p50_ms
            rss = f"{m.peak_rss_mb:.1f}" if m.peak_rss_mb is not None else "-"
            added_text = f"{added:+.3f}" if m.path != "direct" else "-"
            table.add_row(transport, m.path, f"{m.p50_ms:.3f}", f"{m.p99_ms:.3f}", added_text, rss)
        added_of = {name: row.added_p50_ms for name, row in rows.items()}
        summary["ratios"][transport] = {
            "callgate_vs_relay": added_of["callgate"] / added_of["relay"],
            "callgate_vs_fastmcp": added_of["callgate"] / added_of["fastmcp"],
            "callgate_peak_rss_mb": rows["callgate"].peak_rss_mb,
        }
        if "callgate-telemetry" in added_of:
            summary["ratios"][transport]["telemetry_vs_callgate"] = (
                added_of["callgate-telemetry"] / added_of["callgate"]
            )
        if "byte-relay" in added_of:
            summary["ratios"][transport]["callgate_vs_byte_relay"] = (
                added_of["callgate"] / added_of["byte-relay"]
            )
            summary["ratios"][transport]["callgate_global_vs_relay"] = (
                added_of["callgate-global"] / added_of["relay"]
            )
        table.add_section()
    console.print(table)
    for transport, ratios in summary["ratios"].items():
        # The target's baseline is the plain byte relay where there is one (stdio); over HTTP
        # callgate's own transports with nothing judged stand in for it.
        base = "plain byte relay" if "callgate_vs_byte_relay" in ratios else "relay"
        ratio = ratios.get("callgate_vs_byte_relay", ratios["callgate_vs_relay"])
        relay_ok = ratio <= TARGET_RELAY_RATIO
        fast_ok = ratios["callgate_vs_fastmcp"] <= TARGET_FASTMCP_RATIO
        rss = ratios["callgate_peak_rss_mb"]
        rss_ok = rss is not None and rss < TARGET_RSS_MB
        console.print(
            f"{transport}: callgate added p50 / {base} added p50 = {ratio:.2f} (target <= "
            f"{TARGET_RELAY_RATIO}: {'met' if relay_ok else 'MISSED'}); / FastMCP added p50 = "
            f"{ratios['callgate_vs_fastmcp']:.2f} (target <= {TARGET_FASTMCP_RATIO}: "
            f"{'met' if fast_ok else 'MISSED'}); callgate peak RSS "
            f"{rss if rss is None else f'{rss:.1f}'} MB (target < {TARGET_RSS_MB:.0f}: "
            f"{'met' if rss_ok else 'MISSED'})"
        )
        if "telemetry_vs_callgate" in ratios:
            console.print(
                f"{transport}: callgate with metrics and traces added p50 / callgate added p50 "
                f"= {ratios['telemetry_vs_callgate']:.3f} (target <= 1.05: "
                f"{'met' if ratios['telemetry_vs_callgate'] <= 1.05 else 'MISSED'})"
            )
        if "callgate_vs_byte_relay" in ratios:
            console.print(
                f"{transport} (diagnostic, no target): callgate / relay (callgate's own "
                f"transport, same event loop, nothing judged) = {ratios['callgate_vs_relay']:.2f}; "
                f"callgate-global / relay = {ratios['callgate_global_vs_relay']:.2f}"
            )
    return summary


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, or one of its pieces."""
    parser = argparse.ArgumentParser(description="callgate proxy overhead benchmark")
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", *ROLES])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--mode", default="legacy", help="SDK client mode: legacy or auto")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="also time callgate with metrics and traces on (callgate-telemetry)",
    )
    parser.add_argument("--stdio", action="store_true", help="(roles) serve over stdio")
    parser.add_argument("--port", type=int, help="(roles) serve HTTP on this port")
    parser.add_argument("--upstream", help="(roles) the upstream URL")
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]  # (roles) -- CMD ARGS: the upstream command
    if args.role != "bench":
        ROLES[args.role](args.port, args.upstream, command)
        return
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        (work / GLOBAL_POLICY).write_text(
            POLICY.replace("rate_limit: 1000000/hour", GLOBAL_LIMIT).replace(
                "all-tools-rate", "fleet-rate"
            )
        )

        async def measure_all() -> list[Measurement]:
            return [*await measure_stdio(work, args), *await measure_http(work, args)]

        with ExitStack() as stack:
            if args.telemetry:
                sink_port = free_port()
                sink = [*SELF, "otlp-sink", "--port", str(sink_port)]
                stack.enter_context(listening(sink, sink_port, work / "otlp-sink.log"))
                args.otlp_sink = f"http://127.0.0.1:{sink_port}"
            summary = report(anyio.run(measure_all), args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


ROLES = {
    "upstream": lambda port, upstream, command: serve_upstream(port),
    "relay": serve_relay,
    "byte-relay": serve_byte_relay,
    "fastmcp": serve_fastmcp,
    "otlp-sink": serve_otlp_sink,
}

if __name__ == "__main__":
    main()
