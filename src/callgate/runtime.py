"""The event loop the proxy runs on: uvloop where it is installed, asyncio's own elsewhere.

Every message crosses the loop twice per hop (read, then write), so the loop's own cost is
a large share of what a proxy adds to a call: uvloop (libuv) roughly halves it. It is a
dependency on Linux and macOS; `CALLGATE_EVENT_LOOP=asyncio` picks the standard loop (to
rule the loop out when chasing a problem).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

LOOP_VARIABLE = "CALLGATE_EVENT_LOOP"


def use_uvloop() -> bool:
    """Whether `run` uses uvloop: installed, and not switched off by the environment."""
    wanted = os.environ.get(LOOP_VARIABLE, "auto").strip().lower()
    if wanted == "asyncio":
        return False
    return importlib.util.find_spec("uvloop") is not None


def run(main: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
    """`anyio.run` on the fastest loop available."""
    return anyio.run(main, *args, backend_options={"use_uvloop": use_uvloop()})
