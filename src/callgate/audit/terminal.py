"""Audit records for people: one coloured line per record, a table, CSV columns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from callgate.audit.query import record_time

DECISION_STYLES = {
    "allow": "green",
    "deny": "bold red",
    "hidden": "magenta",
    "rate_limited": "yellow",
    "approval_required": "cyan",
    # Shadow mode: what a rule would have done to a call that went through.
    "would_deny": "dark_orange",
    "would_rate_limit": "yellow4",
    "would_require_approval": "dark_cyan",
}
"""How each decision is coloured; approval events and anything else are blue."""

CSV_COLUMNS = (
    "time",
    "server",
    "session",
    "agent",
    "method",
    "tool",
    "category",
    "flags",
    "decision",
    "rule",
    "reason",
    "outcome",
    "is_error",
    "latency_ms",
    "result_bytes",
    "arguments_hmac",
    "event",
    "approval_id",
    "seq",
    "enforced",
)


def _what(record: Mapping[str, Any]) -> str:
    decision = record.get("decision")
    if isinstance(decision, str):
        return decision
    event = record.get("event")
    return str(event) if event is not None else "?"


def _short_time(record: Mapping[str, Any]) -> str:
    return record_time(record)[:23].replace("T", " ")


def record_line(record: Mapping[str, Any]) -> Text:
    """One line: time, decision (coloured), server/tool, agent, rule, outcome, reason."""
    what = _what(record)
    line = Text(_short_time(record), style="dim")
    line.append("  ")
    line.append(f"{what:<22}", style=DECISION_STYLES.get(what, "blue"))
    tool = record.get("tool")
    method = record.get("method")
    target = tool if tool else (method or "")
    line.append(f" {record.get('server', '')}/{target}", style="bold")
    if record.get("agent"):
        line.append(f"  agent={record['agent']}")
    if record.get("category"):
        line.append(f"  [{record['category']}]", style="dim")
    if record.get("rule"):
        line.append(f"  rule={record['rule']}")
    if record.get("enforced"):
        line.append(f"  enforced={record['enforced']}", style="dim")
    if record.get("approval_id"):
        line.append(f"  approval={record['approval_id']}")
    if record.get("by"):
        line.append(f"  by={record['by']}")
    if record.get("outcome"):
        latency = record.get("latency_ms")
        took = f" {latency:g} ms" if isinstance(latency, int | float) else ""
        line.append(f"  {record['outcome']}{took}", style="dim")
    if record.get("reason"):
        line.append(f"  {record['reason']}", style="italic")
    return line


def records_table(records: Iterable[Mapping[str, Any]], title: str | None = None) -> Table:
    """A table of records, one row each."""
    table = Table(title=title)
    table.add_column("time", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    for column in ("server/tool", "category", "agent", "rule", "outcome", "reason"):
        table.add_column(column, overflow="fold")
    for record in records:
        what = _what(record)
        latency = record.get("latency_ms")
        took = f" {latency:g} ms" if isinstance(latency, int | float) else ""
        table.add_row(
            _short_time(record),
            Text(what, style=DECISION_STYLES.get(what, "blue")),
            f"{record.get('server') or ''}/{record.get('tool') or record.get('method') or ''}",
            str(record.get("category") or ""),
            str(record.get("agent") or ""),
            str(record.get("rule") or ""),
            f"{record.get('outcome') or ''}{took}",
            str(record.get("reason") or ""),
        )
    return table


def csv_row(record: Mapping[str, Any]) -> list[str]:
    """The record's values in `CSV_COLUMNS` order (lists joined with `;`)."""
    row = []
    for column in CSV_COLUMNS:
        value = record_time(record) if column == "time" else record.get(column)
        if value is None:
            row.append("")
        elif isinstance(value, list):
            row.append(";".join(map(str, value)))
        elif isinstance(value, bool):
            row.append("true" if value else "false")
        else:
            row.append(str(value))
    return row
