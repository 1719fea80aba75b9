"""`callgate catalog` and `callgate classify --format card` as a user runs them: real
processes, real MCP servers over stdio."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scan.paged_server import ROOT, TOOLS, running_http

CALLGATE = [sys.executable, "-m", "callgate"]
DEMO_SERVER = [sys.executable, "-m", "callgate.demo.server"]
TIME_SERVER = [str(Path(sys.executable).parent / "mcp-server-time")]
DEMO_TOOLS = {
    "read_record",
    "write_record",
    "run_command",
    "delete_record",
    "issue_refund",
    "admin_reset",
}
TIMEOUT = 120


def _callgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLGATE, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )


def test_catalog_of_a_stdio_server_writes_linked_html_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "catalogue"

    done = _callgate("catalog", "-o", str(out), "--title", "Demo", "--", *DEMO_SERVER)

    assert done.returncode == 0, done.stderr
    assert "6 tools" in done.stderr
    index = (out / "index.html").read_text()
    assert "<title>Demo: tool risk catalogue</title>" in index
    for kind in ("html", "md"):
        pages = {path.stem for path in (out / "tools").glob(f"*.{kind}")}
        assert pages == DEMO_TOOLS
        text = (out / f"index.{kind}").read_text()
        for link in re.findall(rf"(tools/[\w-]+\.{kind})", text):
            page = out / link
            assert page.is_file(), link
            assert f"../index.{kind}" in page.read_text()
    refund = (out / "tools" / "issue_refund.html").read_text()
    assert "financial" in refund
    assert "large amounts need approval" in refund
    assert "hide: [issue_refund]" in refund


def test_catalog_of_an_http_server_with_headers(tmp_path: Path) -> None:
    with running_http(token="sekrit") as url:
        done = _callgate(
            "catalog", "-o", str(tmp_path), "--upstream", url, "--header", "X-Token: sekrit"
        )

    assert done.returncode == 0, done.stderr
    assert {path.stem for path in (tmp_path / "tools").glob("*.md")} == {t.name for t in TOOLS}
    assert url in (tmp_path / "index.md").read_text()


def test_catalog_from_a_tools_file_on_stdin(tmp_path: Path) -> None:
    tools = [{"name": "list_things", "description": "List things"}]

    done = _callgate("catalog", "-o", str(tmp_path), "--tools", "-", stdin=json.dumps(tools))

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tools" / "list_things.md").is_file()
    assert "standard input" in (tmp_path / "index.md").read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--tools", "missing.json"], 2, "cannot read"),
        (["--", "/nonexistent/server"], 3, "/nonexistent/server"),
        (["--tools", "x.json", "--", "server"], 2, "only one"),
    ],
    ids=["missing-file", "unreachable", "two-sources"],
)
def test_catalog_exit_codes(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    done = _callgate("catalog", "-o", str(tmp_path / "out"), *args)

    assert done.returncode == code
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_catalog_into_a_path_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    tools = tmp_path / "tools.json"
    tools.write_text('[{"name": "a"}]')

    done = _callgate("catalog", "-o", str(blocker), "--tools", str(tools))

    assert done.returncode == 2
    assert "cannot write" in done.stderr


def test_classify_card_of_a_real_server_fits_100_columns() -> None:
    done = _callgate("classify", "--format", "card", "--", *TIME_SERVER)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    for name in ("get_current_time", "convert_time"):
        assert f"─ {name} " in done.stdout
    assert "recommended rule" in done.stdout
    assert "switch it off" in done.stdout
