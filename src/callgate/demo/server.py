"""The demo's example MCP server: a tiny records and refunds service.

Its tools span every risk kind (read, write, execute, destructive, financial) so the
example policy has something to say about each. Nothing here touches the machine: the
records live in memory and `run_command` only pretends.

Run as `python -m callgate.demo.server` (stdio).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

server = MCPServer("callgate-demo")

_records: dict[str, dict[str, Any]] = {
    "r-1": {"owner": "ada", "status": "open"},
    "r-2": {"owner": "grace", "status": "closed"},
    "r-3": {"owner": "linus", "status": "open"},
}

RecordId = Annotated[str, Field(pattern=r"^r-[0-9]+$", description="A record id like r-1.")]


@server.tool()
def read_record(record_id: RecordId) -> str:
    """Read one record by id."""
    record = _records.get(record_id)
    return f"{record_id}: {record}" if record is not None else f"{record_id}: no such record"


@server.tool()
def write_record(record_id: RecordId, status: Annotated[str, Field(max_length=20)]) -> str:
    """Create or update a record's status."""
    _records.setdefault(record_id, {"owner": "agent"})["status"] = status
    return f"{record_id}: status set to {status!r}"


@server.tool()
def run_command(command: str) -> str:
    """Run a shell command on the server (simulated: nothing is executed)."""
    return f"(simulated) $ {command}\nok"


@server.tool()
def delete_record(record_id: RecordId) -> str:
    """Delete a record permanently."""
    return f"{record_id}: deleted" if _records.pop(record_id, None) else f"{record_id}: absent"


@server.tool()
def issue_refund(
    order_id: str, amount: Annotated[float, Field(gt=0)], currency: str = "EUR"
) -> str:
    """Issue a refund of `amount` to the customer of an order."""
    return f"refunded {amount:.2f} {currency} for order {order_id}"


@server.tool()
def admin_reset() -> str:
    """Reset every record (an operator tool the policy hides from agents)."""
    _records.clear()
    return "all records reset"


if __name__ == "__main__":
    server.run()
