"""Exact decimal arithmetic for counter amounts.

Python's default decimal context rounds to 28 significant digits; counters must not round
(the Redis store's Lua arithmetic does not either), so every sum goes through `EXACT`,
whose precision is the largest the decimal module allows: additions are then exact.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal

ZERO = Decimal(0)

EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact],
)


# Bound methods rather than wrappers: counters add on every call.
add = EXACT.add
"""`add(first, second)`: `first + second`, exactly."""

subtract = EXACT.subtract
"""`subtract(first, second)`: `first - second`, exactly."""


def total(amounts: Iterable[Decimal]) -> Decimal:
    """The exact sum of `amounts` (0 when there are none)."""
    result = ZERO
    for amount in amounts:
        result = EXACT.add(result, amount)
    return result
