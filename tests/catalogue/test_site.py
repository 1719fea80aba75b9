"""The static catalogue: escaping of server text, links both ways, safe page names."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from callgate.catalogue.card import build_cards
from callgate.catalogue.pages import escape_markdown
from callgate.catalogue.site import build_catalogue, page_names

HOSTILE = "<script>alert('x')</script>"
TOOLS: list[dict[str, Any]] = [
    {
        "name": "delete_everything",
        "description": f"Deletes it all. {HOSTILE} <img src=x onerror=alert(1)> | pipes | `tick`",
        "inputSchema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": f"where {HOSTILE}"},
                "</td><script>": {"type": "string"},
            },
        },
        "annotations": {"title": HOSTILE, "destructiveHint": True},
    },
    {"name": f"x{HOSTILE}", "description": "- [link](javascript:alert(1)) # not a heading"},
    {"name": "list_things", "description": "List things"},
    {"name": "List_Things", "description": "List other things"},
]


class _Elements(HTMLParser):
    """The tags, attributes and text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "href" and value is not None:
                self.links.append(value)
            if name in {"src", "srcset"} or name.startswith("on"):
                self.sources.append(f"{name}={value}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return build_catalogue(build_cards(TOOLS), title="t <b>", origin="test server")


def _markdown_as_html(text: str) -> str:
    """What a viewer that allows raw HTML in Markdown (CommonMark's default) shows."""
    html: str = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    return html


def test_every_page_in_both_formats(files: dict[str, str]) -> None:
    stems = page_names([tool["name"] for tool in TOOLS])

    assert set(files) == {"index.html", "index.md"} | {
        f"tools/{stem}.{kind}" for stem in stems.values() for kind in ("html", "md")
    }


def test_html_pages_escape_server_text_and_run_nothing(files: dict[str, str]) -> None:
    for path, text in files.items():
        if not path.endswith(".html"):
            continue
        page = _parse(text)
        assert "script" not in page.tags, path
        assert "img" not in page.tags, path
        assert page.sources == [], path
        assert all(not link.startswith(("http:", "https:", "javascript:")) for link in page.links)
        assert "<style>" in text
    page = _parse(next(text for path, text in files.items() if "delete_everything.html" in path))
    assert HOSTILE in "".join(page.text)


def test_markdown_pages_escape_server_text(files: dict[str, str]) -> None:
    for path, text in files.items():
        if not path.endswith(".md"):
            continue
        page = _parse(_markdown_as_html(text))
        assert "script" not in page.tags, path
        assert "img" not in page.tags, path
        assert all(not link.startswith("javascript:") for link in page.links), path
    rendered = _parse(_markdown_as_html(files["index.md"]))
    assert f"x{HOSTILE}" in rendered.text
    tool_page = next(text for path, text in files.items() if "delete_everything.md" in path)
    assert HOSTILE in "".join(_parse(_markdown_as_html(tool_page)).text)


@pytest.mark.parametrize(
    "text",
    ["plain", HOSTILE, "- item", "1. first", "# h", "a | b", "**x**", "[a](b)", "`c`", "&amp;"],
)
def test_escaped_markdown_renders_as_the_same_text(text: str) -> None:
    html = _markdown_as_html(f"| a |\n|---|\n| {escape_markdown(text)} |\n")

    rendered = _parse(html.split("<td>", 1)[1].split("</td>", 1)[0])
    assert "".join(rendered.text) == text
    assert rendered.tags == []
    assert html.count("<td>") == 1


def test_links_go_both_ways(files: dict[str, str]) -> None:
    for kind in ("html", "md"):
        index = files[f"index.{kind}"]
        targets = set(re.findall(rf"\((tools/[^)]+\.{kind})\)|href=\"(tools/[^\"]+)\"", index))
        linked = {a or b for a, b in targets}
        assert linked == {
            path for path in files if path.startswith("tools/") and path.endswith(kind)
        }
        for path in linked:
            assert f"../index.{kind}" in files[path]


@pytest.mark.parametrize(
    "names",
    [
        ["a", "A"],
        ["index", "Index", "con", "NUL"],
        ["a.b", "a/b", "a b", "a-b", "../etc", ".hidden", "ünï", "✓", "", "*"],
        ["x" * 200, "x" * 201],
    ],
)
def test_page_names_are_safe_and_unique_ignoring_case(names: list[str]) -> None:
    stems = page_names(names)

    assert len({stem.lower() for stem in stems.values()}) == len(names)
    for stem in stems.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", stem)
        assert stem.lower() not in {"index", "con", "nul"}


def test_plain_names_keep_their_name() -> None:
    assert page_names(["list_things", "get-page"]) == {
        "list_things": "list_things",
        "get-page": "get-page",
    }
