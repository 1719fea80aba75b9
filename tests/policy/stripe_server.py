"""A small Stripe-like MCP server (official SDK, stdio) to run the Stripe example against.

Run as `python -m tests.policy.stripe_server`; every answer says what the server did, so a
test can tell which calls really reached it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("stripe-fixture")


@server.tool()
def create_charge(amount: float, currency: str) -> str:
    """Charge the customer `amount` cents in `currency`."""
    return f"charged {amount:g} {currency}"


@server.tool()
def create_refund(amount: int) -> str:
    """Refund `amount` cents."""
    return f"refunded {amount}"


@server.tool()
def delete_customer(customer: str) -> str:
    """Delete a customer (the policy must never let this through)."""
    return f"deleted {customer}"


@server.tool()
def list_customers() -> str:
    """The customers."""
    return "cus_1"


@server.tool()
def retrieve_balance() -> str:
    """The balance."""
    return "0"


if __name__ == "__main__":
    server.run()
