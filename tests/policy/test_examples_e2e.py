"""The Stripe example enforced for real: SDK client -> `callgate run` -> a real MCP server.

The daily spend cap is an Intercept counter with `increment_from`: it must count exact
amounts, check the cap after this call's charge, and survive a restart on SQLite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests.fixtures.servers.commands import CALLGATE, stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

STRIPE = Path(__file__).resolve().parents[2] / "examples" / "stripe.yaml"
SERVER = [sys.executable, "-m", "tests.policy.stripe_server"]


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def verdict_of(result: CallToolResult) -> Any:
    return (result.meta or {}).get("callgate/decision", {}).get("verdict", "allow")


def command(tmp_path: Path) -> list[str]:
    return [
        *CALLGATE,
        "run",
        "-c",
        str(STRIPE),
        "--state",
        f"sqlite://{tmp_path / 'state.db'}",
        "--audit",
        str(tmp_path / "audit.jsonl"),
        "--",
        *SERVER,
    ]


async def test_stripe_example_is_enforced_end_to_end_and_the_cap_survives_a_restart(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    with anyio.fail_after(120):
        async with Client(stdio_params(command(tmp_path), env), mode="legacy") as client:
            await client.list_tools()  # create_charge validates arguments: schemas needed
            small = await client.call_tool("create_charge", {"amount": 1999, "currency": "usd"})
            too_big = await client.call_tool("create_charge", {"amount": 600000, "currency": "usd"})
            pounds = await client.call_tool("create_charge", {"amount": 10, "currency": "gbp"})
            large = await client.call_tool("create_charge", {"amount": 75000, "currency": "usd"})
            deleted = await client.call_tool("delete_customer", {"customer": "cus_1"})
            refund = await client.call_tool("create_refund", {"amount": 20000})
            # 1999 spent so far; 19 charges of 50000 reach 951999, one more of 48001
            # lands exactly on the 1,000,000 cap, and then not a cent more passes.
            fills = [
                await client.call_tool("create_charge", {"amount": 50000, "currency": "eur"})
                for _ in range(19)
            ]
            exact = await client.call_tool("create_charge", {"amount": 48001, "currency": "usd"})
            over = await client.call_tool("create_charge", {"amount": 1, "currency": "usd"})

        assert (small.is_error, text_of(small)) == (False, "charged 1999 usd")
        assert text_of(too_big) == (
            '[callgate] denied by rule "max single charge": A single charge cannot exceed $5,000.00'
        )
        assert verdict_of(pounds) == "deny"
        assert "Only USD and EUR" in text_of(pounds)
        assert large.is_error and verdict_of(large) == "approval_required"
        assert deleted.is_error and "Customer deletion is not permitted" in text_of(deleted)
        assert refund.is_error and "Refunds over $100.00" in text_of(refund)
        assert [text_of(f) for f in fills] == ["charged 50000 eur"] * 19
        assert (exact.is_error, text_of(exact)) == (False, "charged 48001 usd")
        assert over.is_error
        assert text_of(over) == (
            '[callgate] denied by rule "daily spend cap": Daily spending cap of $10,000.00 reached'
        )

        # A new callgate process on the same state file: the day's spend is still there.
        async with Client(stdio_params(command(tmp_path), env), mode="legacy") as client:
            await client.list_tools()
            after_restart = await client.call_tool(
                "create_charge", {"amount": 1, "currency": "usd"}
            )
            unlisted = await client.call_tool("retrieve_balance", {})
        assert after_restart.is_error
        assert "Daily spending cap" in text_of(after_restart)
        assert (unlisted.is_error, text_of(unlisted)) == (False, "0")
