"""The gate: judges every `tools/call`, filters `tools/list`, settles counters.

The gate is the `Interceptor` every transport calls. For a `tools/call` it runs the
phases in order, stopping at the first that refuses:

    strict checks    `name` a string, `arguments` an object (else a JSON-RPC error)
    hidden           a hidden tool is refused as if it did not exist
    pinned           the tool's latest listed definition against the lock (`integrity`):
                     hidden or denied at once, or approval asked (after the rules)
    counters         the last values seen of the counters the matching rules read
    evaluate         the pure policy engine decides (with guards on those counters): a
                     rule's denial, a spend cap reached, or ALLOW / APPROVAL_REQUIRED
    confirm          a decision that relied on counters but reserves nothing is checked
                     against the store's guards first (a changed counter: judge again)
    validate         arguments against the tool's `inputSchema` when the rule asks
    reserve          rate-limit slots and counter charges, all-or-nothing, guards checked
                     in the same step; a counter out of range means judge again with the
                     values the store returned (bounded)
    approval         APPROVAL_REQUIRED goes to the `approvals` collaborator (none: deny),
                     the reservation held while a person decides; anything but an
                     approval rolls it back
    forward          remembered as in flight until the server answers

Every refusal that is cheap and certain comes before the approval phase, so a person is
only ever asked about a call that would run. The reservation is taken before asking and
held during the wait: other calls see the slots and amounts a waiting call would use, so
they cannot overtake it past a limit, and a person is never asked about a call that a
limit would refuse once approved. Denied, timed out, withdrawn or still pending (retry
mode, a prompt in the client) gives the reservation back at once.

The facts a call is judged with carry the tool's risk category (`categorize`) and, only
when the policy has a `flags:` block, its flags (`flag`): a policy without flag entries
never pays for the lookup.

The answer settles the reservation: commit on success, roll back on a JSON-RPC error, an
`isError` result, an `input_required` result (the call did not run; its retry is judged
afresh), a timeout, a cancellation or a lost upstream. Every decision is audited.

A `tools/list` result loses the hidden tools (and those the pin check hides; every page
is recorded there, and a server's `notifications/tools/list_changed` leaves none of its
tools trusted until listed again) and, when the policy says `annotate_tools:
true`, each tool gains `_meta["callgate/risk"]` (the classifier's verdict, `classify`),
merged into the `_meta` the server sent. Otherwise it is returned untouched.

Everything else passes through untouched, so the transport can write the original bytes.

`telemetry`, when set, is told of each `tools/call`: its arrival, its decision (on the
call's path: a counter and a timing), and its answer (with the settling, off the path).
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

import anyio
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus

from callgate.audit.record import build_event
from callgate.audit.sink import AuditSink
from callgate.classifier.classification import Classification
from callgate.policy.decision import Decision, Facts, ToolCall, Verdict
from callgate.proxy.catalog import ToolCatalog
from callgate.proxy.denial import denial_result, speaks_modern
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, error_response
from callgate.proxy.validation import ArgumentValidator
from callgate.results.guard import GuardReport, ResultRules, guard_result
from callgate.state.counters import Charge, CounterKey
from callgate.state.store import CounterStore, Rejection, Reservation, StoreUnavailable
from callgate.telemetry.observer import CallMark, CallObserver

REQUEST_CANCELLED = -32800
"""JSON-RPC code for a request the client cancelled (the client ignores the answer)."""

MAX_STALE_RETRIES = 5
"""How often a call is re-judged when counters it relied on changed under it."""

SEEN_COUNTERS = 65_536
"""At most this many counter values are remembered (the table is cleared when full)."""

_ZERO = Decimal(0)

RISK_META = "callgate/risk"
"""The `_meta` key of a listed tool that carries its risk (`annotate_tools: true`)."""

TOOLS_LIST_CHANGED = "notifications/tools/list_changed"

EXCHANGE = "exchange"
"""`Peer.extra` key naming one stateless HTTP exchange (2026-07-28). Request ids are unique
only per client, and many clients share a stateless session (`<agent>/default`), so calls
in flight are tracked per exchange there, per session elsewhere."""


class Judge(Protocol):
    """The current policy as the gate needs it (compiled policy plus the engine)."""

    @property
    def fail_open(self) -> bool:
        """True when the policy says `fail_mode: open` (allow when the store is down)."""
        ...

    @property
    def uses_flags(self) -> bool:
        """True when the policy has flag entries (only then are a tool's flags looked up)."""
        ...

    @property
    def annotate_tools(self) -> bool:
        """True when listed tools carry their risk in `_meta` (`annotate_tools: true`)."""
        ...

    def is_hidden(self, tool: str) -> bool:
        """Whether the tool is removed from `tools/list` and refused."""
        ...

    def counter_keys(self, call: ToolCall, facts: Facts) -> Mapping[str, CounterKey]:
        """The counters the call's rules read: state path -> key to read from the store."""
        ...

    def evaluate(self, call: ToolCall, facts: Facts) -> Decision:
        """The decision for the call given the facts."""
        ...

    def rate_limit_reason(self, charge: Charge) -> str:
        """What the agent reads when the store refuses this rate-limit charge."""
        ...

    @property
    def guards_results(self) -> bool:
        """True when the policy has `results:` rules (only then is a tool's guard looked up)."""
        ...

    def result_rules(
        self, tool: str, category: str | None, flags: tuple[str, ...]
    ) -> ResultRules | None:
        """The result guard for the tool's results; None: its results pass unread."""
        ...


class PolicySource(Protocol):
    """Hands out the policy in force now (it may change between calls: hot reload)."""

    def current(self) -> Judge:
        """The policy to judge the next call with."""
        ...


class Approvals(Protocol):
    """The seam for human approval (issue 6): turns APPROVAL_REQUIRED into a verdict."""

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        """The final decision: ALLOW to go on (charges are then reserved), or a denial."""
        ...


class Integrity(Protocol):
    """The pin check (`callgate.integrity.pinning.Pinning`): listings recorded, calls judged
    against the latest listed definition of their tool."""

    def listed(self, server: str, tools: list[Any]) -> list[Any]:
        """Record one `tools/list` page; return the tools the client may see."""
        ...

    def list_changed(self, server: str) -> None:
        """The server sent `notifications/tools/list_changed`."""
        ...

    def check(self, server: str, tool: str) -> Decision | None:
        """HIDDEN/DENY refuse, APPROVAL_REQUIRED asks, ALLOW warns; None: no objection."""
        ...


@dataclass(slots=True)
class _InFlight:
    """A request forwarded upstream whose answer the gate must see."""

    method: str
    peer: Peer
    started: float
    call: ToolCall | None = None
    decision: Decision | None = None
    reservation: Reservation | None = None
    mark: CallMark | None = None
    results: ResultRules | None = None
    """The result guard to apply to the answer (None: it passes unread)."""
    guarded: GuardReport | None = None
    """What the guard did to the answer, for the audit record."""


@dataclass
class Gate:
    """The policy-enforcing `Interceptor` shared by all transports and sessions."""

    policy: PolicySource
    store: CounterStore
    audit: AuditSink
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    approvals: Approvals | None = None
    categorize: Callable[[str, str], str | None] | None = None
    """(server, tool) -> risk category for `Facts.category`; None: categories unused."""
    flag: Callable[[str, str], tuple[str, ...]] | None = None
    """(server, tool) -> risk flags for `Facts.flags`, asked only when the policy has flag
    entries; None: flags unused."""
    classify: Callable[[str, Mapping[str, Any]], Classification] | None = None
    """(server, listed definition) -> the classifier's verdict, for `annotate_tools`; None:
    listed tools are never annotated."""
    call_timeout: float = 600.0
    max_in_flight: int = 10_000
    telemetry: CallObserver | None = None
    """Told how each call was judged and answered (metrics, traces); None: nothing is."""
    integrity: Integrity | None = None
    """The pin check (`integrity:` in the policy); None: definitions are not checked."""
    catalog: ToolCatalog = field(default_factory=ToolCatalog)
    validator: ArgumentValidator = field(default_factory=ArgumentValidator)
    _in_flight: dict[tuple[str, str | int], _InFlight] = field(default_factory=dict)
    # Calls still being judged, and those of them the client cancelled meanwhile.
    _judging: set[tuple[str, str | int]] = field(default_factory=set)
    _cancelled_early: set[tuple[str, str | int]] = field(default_factory=set)
    # The last value the store reported per counter: calls are judged from these, and
    # the store's guard check catches a value that moved out of the decision's range.
    _seen: dict[CounterKey, Decimal] = field(default_factory=dict)
    # Answered calls waiting for `run_settler`: (entry, success, outcome, answered at,
    # the answer's size in bytes).
    _answered: list[tuple[_InFlight, bool, str, float, int | None]] = field(default_factory=list)
    _wake: asyncio.Event | None = None

    # -- client to server -------------------------------------------------------------

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        """Judge `tools/call`, track `tools/list`, settle cancelled calls; pass the rest."""
        method = message.method
        if method == "tools/call":
            return await self._judge_call(message, peer)
        if method == "tools/list" and message.is_request:
            refusal = await self._track(message, peer, _InFlight("tools/list", peer, 0.0))
            return refusal or Forward(message)
        if method == "notifications/cancelled":
            params = message.body.get("params")
            request_id = params.get("requestId") if isinstance(params, dict) else None
            if isinstance(request_id, str | int):
                key = _flight(peer, request_id)
                entry = self._in_flight.pop(key, None)
                if entry is not None:
                    await self._settle(entry, success=False, outcome="cancelled")
                elif key in self._judging:
                    self._cancelled_early.add(key)
        return Forward(message)

    async def _judge_call(self, message: Message, peer: Peer) -> Forward | Reply:
        body = message.body
        request_id = body.get("id")
        if not isinstance(request_id, str | int):
            return Reply(
                error_response(None, INVALID_REQUEST, "tools/call must be a request with an id")
            )
        params = body.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            return Reply(
                error_response(request_id, INVALID_PARAMS, 'tools/call needs a string "name"')
            )
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            return Reply(
                error_response(request_id, INVALID_PARAMS, '"arguments" must be an object')
            )
        if self._in_flight and self._oldest_expired():
            await self._expire()
        call = ToolCall(peer.server, params["name"], arguments)
        telemetry = self.telemetry
        mark = telemetry.arrived(params, peer) if telemetry is not None else None
        key = _flight(peer, request_id)
        self._judging.add(key)
        try:
            decision, reservation = await self._decide(call, peer)
        finally:
            self._judging.discard(key)
        try:
            answer = await self._admit(message, peer, call, decision, reservation, mark=mark)
        except BaseException:
            # Cancelled (the client went away) or failed after counters were reserved:
            # give them back even while being cancelled.
            with anyio.CancelScope(shield=True):
                await self._release(reservation, commit=False)
            raise
        if telemetry is not None and mark is not None:
            forwarded = isinstance(answer, Forward)
            telemetry.judged(mark, peer, call, decision, forwarded=forwarded)
        return answer

    async def _admit(
        self,
        message: Message,
        peer: Peer,
        call: ToolCall,
        decision: Decision,
        reservation: Reservation | None,
        *,
        mark: CallMark | None = None,
    ) -> Forward | Reply:
        """Answer a judged call: refuse it, or track it and let it through."""
        request_id = message.body["id"]
        params = message.body["params"]
        key = _flight(peer, request_id)
        if key in self._cancelled_early:
            # Cancelled while being judged (e.g. waiting for approval): never forward it.
            self._cancelled_early.discard(key)
            await self._release(reservation, commit=False)
            self._record(peer, call=call, decision=decision, outcome="cancelled")
            return Reply(error_response(request_id, REQUEST_CANCELLED, "request cancelled"))
        if not decision.allowed:
            self._record(peer, call=call, decision=decision)
            result = denial_result(decision, modern=speaks_modern(params, peer.protocol_version))
            return Reply({"jsonrpc": "2.0", "id": request_id, "result": result})
        entry = _InFlight("tools/call", peer, self.monotonic(), call, decision, reservation, mark)
        judge = self.policy.current()
        if judge.guards_results:
            entry.results = self._result_rules(judge, call)
        refusal = await self._track(message, peer, entry)
        if refusal is not None:
            await self._release(reservation, commit=False)
            return refusal
        return Forward(message)

    async def _decide(self, call: ToolCall, peer: Peer) -> tuple[Decision, Reservation | None]:
        """Run the phases up to the approval; returns the decision and what was held.

        Counters are judged from the values this gate last saw (never read first); the
        decision's guards say in which range each must still be, and the store checks
        them in the same atomic step that reserves the charges. A decision that reserves
        nothing but relied on counters (a denial, an approval to ask, an allow without
        charges) is confirmed the same way before the gate acts on it, unless it was
        judged from values the store returned in this same decision. A refused guard
        returns the current values: remember them and judge again (bounded).

        Arguments are validated and charges reserved before a person is asked: the
        approval phase only ever sees a call that would run.
        """
        fresh: Mapping[CounterKey, Decimal] = {}  # values the store just returned
        for _ in range(MAX_STALE_RETRIES):
            judge = self.policy.current()
            if judge.is_hidden(call.tool):
                return _hidden(call.tool), None
            pinned = self.integrity.check(call.server, call.tool) if self.integrity else None
            if pinned is not None and pinned.verdict not in _PROCEEDS:
                return pinned, None
            now = self.clock()
            category = self.categorize(call.server, call.tool) if self.categorize else None
            flags = (
                self.flag(call.server, call.tool)
                if judge.uses_flags and self.flag is not None
                else ()
            )
            facts = self._with_counters(
                judge,
                call,
                Facts(
                    now=now,
                    agent=peer.agent,
                    session=peer.session,
                    category=category,
                    flags=flags,
                ),
            )
            decision = _with_pin_check(judge.evaluate(call, facts), pinned)
            guards = decision.guards
            proceeds = decision.verdict in _PROCEEDS
            charges = decision.charges
            if decision.shadow_charges:
                charges += decision.shadow_charges
            if guards and not (proceeds and charges) and not guards.keys() <= fresh.keys():
                try:
                    confirmed = await self.store.reserve((), guards, now)
                except StoreUnavailable:
                    if not judge.fail_open:
                        return _store_down(), None
                    confirmed = None
                if isinstance(confirmed, Rejection):
                    fresh = confirmed.fresh
                    self._remember(fresh)
                    continue
                if confirmed is not None:
                    self._remember(confirmed.values)
            if not proceeds:
                return decision, None
            if decision.validate_arguments:
                problem = self._validate(call)
                if problem is not None:
                    return _invalid(decision, problem), None
            reservation: Reservation | None = None
            if charges:
                try:
                    held = await self.store.reserve(charges, decision.guards, now)
                    if isinstance(held, Rejection) and held.charge in decision.shadow_charges:
                        decision, held = await self._without_full_shadow(decision, held, judge, now)
                except StoreUnavailable:
                    if not judge.fail_open:
                        return _store_down(), None
                    held = None
                if isinstance(held, Rejection):
                    if held.charge is not None:
                        return _rate_limited(held, judge), None
                    fresh = held.fresh
                    self._remember(fresh)
                    continue
                if held is not None and held.values:
                    self._remember(held.values)
                reservation = held
            if decision.verdict is Verdict.APPROVAL_REQUIRED:
                return await self._approved(call, decision, peer, reservation, pinned)
            return decision, reservation
        return (
            Decision(
                Verdict.DENY,
                rule=None,
                reason="counters kept changing while the call was judged; try again",
            ),
            None,
        )

    async def _without_full_shadow(
        self, decision: Decision, refused: Rejection, judge: Judge, now: float
    ) -> tuple[Decision, Reservation | Rejection]:
        """Reserve again without each shadow rate limit the store found full: it refuses
        nothing, the decision records WOULD_RATE_LIMIT (a would-be denial still comes
        first), and its counter is not charged, as an enforced limit would not be."""
        held: Reservation | Rejection = refused
        while isinstance(held, Rejection) and held.charge in decision.shadow_charges:
            limited = _rate_limited(held, judge)
            decision = decision.without_full_shadow_limit(held.charge, limited.reason)
            charges = decision.charges + decision.shadow_charges
            held = await self.store.reserve(charges, decision.guards, now)
        return decision, held

    def _with_counters(self, judge: Judge, call: ToolCall, facts: Facts) -> Facts:
        """The facts with the last value seen of every counter the call's rules read."""
        keys = judge.counter_keys(call, facts)
        if not keys:
            return facts
        seen = self._seen
        counters = {path: seen.get(key, _ZERO) for path, key in keys.items()}
        return Facts(
            now=facts.now,
            agent=facts.agent,
            session=facts.session,
            category=facts.category,
            flags=facts.flags,
            counters=counters,
        )

    def _remember(self, values: Mapping[CounterKey, Decimal]) -> None:
        """Keep counter values the store reported (bounded: cleared when full)."""
        seen = self._seen
        if len(seen) + len(values) > SEEN_COUNTERS:
            seen.clear()
        seen.update(values)

    async def _ask_approval(
        self, call: ToolCall, decision: Decision, peer: Peer, held: Reservation | None
    ) -> Decision:
        """Ask for approval holding `held`; anything but ALLOW gives it back at once."""
        if self.approvals is None:
            final = Decision(
                Verdict.APPROVAL_REQUIRED,
                rule=decision.rule,
                reason=_join(decision.reason, "approval is required and no approver is configured"),
            )
        else:
            try:
                final = await self.approvals.resolve(call, decision, peer)
            except BaseException:
                # Cancelled while a person decides (the client went away): give it back.
                with anyio.CancelScope(shield=True):
                    await self._release(held, commit=False)
                raise
        if not final.allowed:
            await self._release(held, commit=False)
        return final

    async def _approved(
        self,
        call: ToolCall,
        decision: Decision,
        peer: Peer,
        held: Reservation | None,
        pinned: Decision | None,
    ) -> tuple[Decision, Reservation | None]:
        """Ask for approval; an approved call whose tool's definition changed again while
        the person decided (they saw another diff) is refused."""
        decision = await self._ask_approval(call, decision, peer, held)
        if not decision.allowed:
            return decision, None
        integrity = self.integrity
        if pinned is not None and integrity is not None:
            now = integrity.check(call.server, call.tool)
            if now != pinned:
                await self._release(held, commit=False)
                return _redefined_while_asked(call.tool), None
        return decision, held

    def _result_rules(self, judge: Judge, call: ToolCall) -> ResultRules | None:
        """The tool's result guard, with the risk it was judged with (cached lookups)."""
        server, tool = call.server, call.tool
        category = self.categorize(server, tool) if self.categorize else None
        flags = self.flag(server, tool) if judge.uses_flags and self.flag is not None else ()
        return judge.result_rules(tool, category, flags)

    def _validate(self, call: ToolCall) -> str | None:
        schema = self.catalog.input_schema(call.server, call.tool)
        if schema is None:
            return (
                f"no input schema is known for tool {call.tool!r} "
                "(list the tools first), so its arguments cannot be validated"
            )
        return self.validator.validate(schema, call.arguments)

    # -- server to client -------------------------------------------------------------

    async def on_server_message(self, message: Message, peer: Peer) -> Message | None:
        """Filter `tools/list` results and settle answered calls; pass the rest."""
        if not message.is_response:
            if self.integrity is not None and message.method == TOOLS_LIST_CHANGED:
                self.integrity.list_changed(peer.server)
            return message
        request_id = message.body.get("id")
        if not isinstance(request_id, str | int):
            return message
        entry = self._in_flight.pop(_flight(peer, request_id), None)
        if entry is None:
            return message
        if entry.method == "tools/list":
            return self._filter_tools(message, peer)
        success, outcome = _outcome(message.body)
        size = len(message.raw) or None  # the result is never audited, only its size
        if entry.results is not None:
            message = _guarded(message, entry)
        if self._wake is None:
            await self._settle(entry, success=success, outcome=outcome, result_bytes=size)
        else:
            # The answer goes out first; counters and audit are settled right after it.
            self._answered.append((entry, success, outcome, self.monotonic(), size))
            self._wake.set()
        return message

    def _filter_tools(self, message: Message, peer: Peer) -> Message:
        result = message.body.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(tools, list):
            return message
        self.catalog.learn(peer.server, tools)
        judge = self.policy.current()
        listed = self.integrity.listed(peer.server, tools) if self.integrity else tools
        kept = [tool for tool in listed if not _is_hidden_definition(judge, tool)]
        classify = self.classify
        if judge.annotate_tools and classify is not None:
            kept = [_annotated(tool, peer.server, classify) for tool in kept]
        elif len(kept) == len(tools):
            return message
        return Message({**message.body, "result": {**result, "tools": kept}}, b"")

    async def on_upstream_lost(self, peer: Peer) -> None:
        """Roll back every call of `peer` still waiting for the upstream."""
        owner = _flight(peer, 0)[0]
        lost = [key for key in self._in_flight if key[0] == owner]
        for key in lost:
            await self._settle(self._in_flight.pop(key), success=False, outcome="upstream_lost")

    # -- bookkeeping ------------------------------------------------------------------

    async def _track(self, message: Message, peer: Peer, entry: _InFlight) -> Reply | None:
        """Remember a forwarded request; refuse (fail closed) when the table is full."""
        key = _flight(peer, message.body["id"])
        if len(self._in_flight) >= self.max_in_flight:
            await self._expire()
        if len(self._in_flight) >= self.max_in_flight or key in self._in_flight:
            reason = (
                "request id already in flight"
                if key in self._in_flight
                else "too many requests in flight"
            )
            return Reply(error_response(message.body["id"], INTERNAL_ERROR, reason))
        entry.started = self.monotonic()
        self._in_flight[key] = entry
        return None

    def _oldest_expired(self) -> bool:
        """Whether the oldest call in flight has outlived `call_timeout` (a cheap check)."""
        oldest = next(iter(self._in_flight.values()))
        return oldest.started <= self.monotonic() - self.call_timeout

    async def _expire(self) -> None:
        """Roll back calls older than `call_timeout` (oldest first: dicts keep order)."""
        deadline = self.monotonic() - self.call_timeout
        while self._in_flight:
            key, entry = next(iter(self._in_flight.items()))
            if entry.started > deadline:
                return
            del self._in_flight[key]
            await self._settle(entry, success=False, outcome="timeout")

    async def run_settler(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        """Settle answered calls after their answers went out (run as a background task).

        While it runs, an answer is handed to the client without waiting for its counters
        to be committed (or rolled back) and its audit record to be built: that work is
        done here, in the next turn of the loop, off the answer's path. `settle_answered`
        finishes what is queued when it stops.
        """
        # One event for the settler's life, cleared after each wake: no allocation per call.
        wake = self._wake = asyncio.Event()
        task_status.started()
        try:
            while True:
                await wake.wait()
                wake.clear()
                await self.settle_answered()
        finally:
            self._wake = None

    async def settle_answered(self) -> None:
        """Settle every answered call still queued (also at shutdown, after the settler)."""
        while self._answered:
            batch, self._answered = self._answered, []
            for entry, success, outcome, answered, size in batch:
                try:
                    await self._settle(
                        entry, success=success, outcome=outcome, at=answered, result_bytes=size
                    )
                except Exception:  # one bad record must not stop the others
                    traceback.print_exc(file=sys.stderr)

    async def _settle(
        self,
        entry: _InFlight,
        *,
        success: bool,
        outcome: str,
        at: float | None = None,
        result_bytes: int | None = None,
    ) -> None:
        if entry.call is None or entry.decision is None:
            return
        await self._release(entry.reservation, commit=success)
        latency_ms = ((self.monotonic() if at is None else at) - entry.started) * 1000.0
        if entry.mark is not None and self.telemetry is not None:
            self.telemetry.answered(entry.mark, outcome, latency_ms / 1000.0)
        self._record(
            entry.peer,
            call=entry.call,
            decision=entry.decision,
            latency_ms=latency_ms,
            outcome=outcome,
            result_bytes=result_bytes,
            result_guard=entry.guarded,
        )

    async def _release(self, reservation: Reservation | None, *, commit: bool) -> None:
        if reservation is None:
            return
        try:
            if commit:
                await self.store.commit(reservation, self.clock())
            else:
                await self.store.rollback(reservation, self.clock())
        except StoreUnavailable as exc:
            action = "commit" if commit else "roll back"
            print(f"callgate: could not {action} counters: {exc}", file=sys.stderr)

    def _record(
        self,
        peer: Peer,
        *,
        call: ToolCall,
        decision: Decision,
        latency_ms: float | None = None,
        outcome: str | None = None,
        result_bytes: int | None = None,
        result_guard: GuardReport | None = None,
    ) -> None:
        # The risk the call was judged with (cached lookups), kept for replay; flags only
        # where the policy reads them, as when judging.
        server, tool = peer.server, call.tool
        flags = self.flag if self.flag is not None and self.policy.current().uses_flags else None
        # A call a shadow rule would have stopped is logged by what that rule would have
        # done (would_deny, ...), with the verdict that was enforced beside it.
        shadow = decision.shadowed
        self.audit.record(
            build_event(
                now=self.clock(),
                server=server,
                session=peer.session,
                agent=peer.agent.name,
                method="tools/call",
                tool=tool,
                category=self.categorize(server, tool) if self.categorize else None,
                flags=flags(server, tool) if flags is not None else None,
                decision=decision.verdict.value if shadow is None else shadow.verdict.value,
                rule=decision.rule if shadow is None else shadow.rule,
                reason=decision.reason if shadow is None else shadow.reason,
                enforced=None if shadow is None else decision.verdict.value,
                latency_ms=latency_ms,
                outcome=outcome,
                result_bytes=result_bytes,
                result_guard=None if result_guard is None else result_guard.to_record(),
            ),
            arguments=call.arguments,
        )

    @property
    def in_flight(self) -> int:
        """How many forwarded requests wait for an answer."""
        return len(self._in_flight)


_PROCEEDS = frozenset({Verdict.ALLOW, Verdict.APPROVAL_REQUIRED})
"""Verdicts that go on to validation and the reservation (a refusal stops at once)."""


def _flight(peer: Peer, request_id: str | int) -> tuple[str, str | int]:
    """The in-flight table's key: the exchange (stateless HTTP) or session, and the id."""
    return peer.extra.get(EXCHANGE) or peer.session, request_id


def _outcome(body: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a `tools/call` answer means the call ran, and a word for the audit."""
    if "error" in body:
        return False, "error"
    result = body.get("result")
    if isinstance(result, dict):
        if result.get("isError") is True:
            return False, "tool_error"
        if result.get("resultType") == "input_required":
            return False, "input_required"
    return True, "ok"


def _guarded(message: Message, entry: _InFlight) -> Message:
    """The answer as the result guard leaves it (re-encoded when changed); what the guard
    did is kept on `entry` for the audit record."""
    result = message.body.get("result")
    if entry.results is None or not isinstance(result, dict):
        return message
    guarded, report = guard_result(result, entry.results)
    entry.guarded = report
    if guarded is result:
        return message
    return Message({**message.body, "result": guarded}, b"")


def _is_hidden_definition(judge: Judge, tool: Any) -> bool:
    return (
        isinstance(tool, dict)
        and isinstance(tool.get("name"), str)
        and judge.is_hidden(tool["name"])
    )


def _annotated(
    tool: Any, server: str, classify: Callable[[str, Mapping[str, Any]], Classification]
) -> Any:
    """`tool` with its risk added to the `_meta` the server sent (callgate's key wins).

    A definition without a string name, or whose `_meta` is not an object, is left as is.
    """
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        return tool
    meta = tool.get("_meta")
    if meta is not None and not isinstance(meta, dict):
        return tool
    risk = classify(server, tool).to_meta()
    return {**tool, "_meta": {**(meta or {}), RISK_META: risk}}


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _with_pin_check(decision: Decision, pinned: Decision | None) -> Decision:
    """The policy's decision once the pin check had its say (a refusal by either stands):
    asks a person when the check does (its rule and reason saying why), else carries its
    warning."""
    if pinned is None or decision.verdict not in _PROCEEDS:
        return decision
    if pinned.verdict is Verdict.APPROVAL_REQUIRED:
        return replace(
            decision,
            verdict=Verdict.APPROVAL_REQUIRED,
            rule=pinned.rule,
            reason=_join(decision.reason, pinned.reason),
        )
    return replace(decision, reason=_join(decision.reason, pinned.reason))


def _redefined_while_asked(tool: str) -> Decision:
    return Decision(
        Verdict.DENY,
        rule="integrity",
        reason=f"the definition of tool {tool!r} changed again while the call waited for "
        "approval; call it again to be asked about the new definition",
    )


def _hidden(tool: str) -> Decision:
    return Decision(Verdict.HIDDEN, rule="hide", reason=f"tool {tool!r} is not available")


def _store_down() -> Decision:
    return Decision(
        Verdict.DENY,
        rule="fail_mode",
        reason="limit store unavailable; calls are refused until it is back (fail_mode: closed)",
    )


def _rate_limited(rejection: Rejection, judge: Judge) -> Decision:
    assert rejection.charge is not None
    charge = rejection.charge
    retry = rejection.retry_after
    # The rule's own words (on_deny, or Intercept's), then the numbers an agent can act on.
    limit = f"at most {charge.limit} calls per {charge.key.window.seconds} s"
    wait = f"; retry in {retry:.1f} s" if retry is not None else ""
    reason = f"{judge.rate_limit_reason(charge).rstrip('. ')} ({limit}{wait})"
    return Decision(
        Verdict.RATE_LIMITED,
        rule=charge.rule,
        reason=reason,
        retry_after=retry,
    )


def _invalid(decision: Decision, problem: str) -> Decision:
    return Decision(Verdict.DENY, rule=decision.rule or "validate_arguments", reason=problem)
