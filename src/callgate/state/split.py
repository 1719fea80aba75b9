"""`SessionLocalStore`: a session's own counters in memory, every other counter in the store.

In the stdio modes a session is the one connection of one callgate process: nothing else
can share its counters, and they end with it (a restarted callgate serves a new session).
Keeping session-scoped counters in this process's memory therefore changes no limit, and
spares the shared store (a SQLite write, a Redis round trip) on every call whose rules
count per session, the default scope of `rate_limit`. Agent- and global-scoped counters,
which other processes and later runs share, still go to the shared store.

A reservation that spans both parts takes the local part first (it cannot be unavailable)
and gives it back when the shared part is refused or fails, so the pair stays
all-or-nothing; meanwhile a concurrent call of the same session may see the local part
held, which errs towards the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from callgate.state.counters import Charge, CounterKey, Guard, Scope
from callgate.state.memory import MemoryStore
from callgate.state.store import CounterStore, Rejection, Reservation


def _is_local(key: CounterKey) -> bool:
    return key.scope is Scope.SESSION


class SessionLocalStore:
    """A `CounterStore`: session-scoped keys in memory, the rest in `shared`."""

    def __init__(self, shared: CounterStore, local: MemoryStore | None = None) -> None:
        self.shared = shared
        self.local = local or MemoryStore()
        # What holds each reservation that is not the shared part's alone: our id -> the
        # (part, its reservation) pairs to settle together.
        self._held: dict[str, tuple[tuple[CounterStore, Reservation], ...]] = {}

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key, from the part that holds it."""
        local = [key for key in keys if _is_local(key)]
        shared = [key for key in keys if not _is_local(key)]
        values = await self.local.read(local, now) if local else {}
        if shared:
            values.update(await self.shared.read(shared, now))
        return values

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Reserve in both parts, all-or-nothing; a part with nothing to do is not asked."""
        local_charges = [charge for charge in charges if _is_local(charge.key)]
        local_guards = {key: guard for key, guard in guards.items() if _is_local(key)}
        if not local_charges and not local_guards:
            return await self.shared.reserve(charges, guards, now)
        if len(local_charges) == len(charges) and len(local_guards) == len(guards):
            held = await self.local.reserve(charges, guards, now)
            if isinstance(held, Reservation):
                self._held[held.id] = ((self.local, held),)
            return held
        shared_charges = [charge for charge in charges if not _is_local(charge.key)]
        shared_guards = {key: guard for key, guard in guards.items() if not _is_local(key)}
        local = await self.local.reserve(local_charges, local_guards, now)
        if isinstance(local, Rejection):
            if local.stale_key is None or not shared_guards:
                return local
            # A stale guard reports every guarded counter's value, the shared ones too.
            others = await self.shared.read(list(shared_guards), now)
            return replace(local, fresh={**local.fresh, **others})
        try:
            shared = await self.shared.reserve(shared_charges, shared_guards, now)
        except BaseException:
            await self.local.rollback(local, now)
            raise
        if isinstance(shared, Rejection):
            await self.local.rollback(local, now)
            if shared.stale_key is None:
                return shared
            mine = await self.local.read(list(local_guards), now)
            return replace(shared, fresh={**mine, **shared.fresh})
        pair = Reservation(
            id=f"{local.id}+{shared.id}",
            charges=tuple(charges),
            values={**local.values, **shared.values},
        )
        self._held[pair.id] = ((self.local, local), (self.shared, shared))
        return pair

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Commit in the part (or both parts) that holds the reservation."""
        for store, part in self._parts(reservation):
            await store.commit(part, now)

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Roll back in the part (or both parts) that holds the reservation."""
        for store, part in self._parts(reservation):
            await store.rollback(part, now)

    async def aclose(self) -> None:
        """Close both parts."""
        try:
            await self.shared.aclose()
        finally:
            await self.local.aclose()

    def _parts(self, reservation: Reservation) -> tuple[tuple[CounterStore, Reservation], ...]:
        """The parts to settle (forgotten here: a reservation is settled once)."""
        return self._held.pop(reservation.id, ((self.shared, reservation),))
