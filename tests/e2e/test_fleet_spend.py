"""A spend cap on Redis: two `callgate run --listen` processes hold it exactly together.

A spend cap is a condition reading a counter; each instance judges it from the value it
last saw and Redis checks the guard in the same script call that charges (one round trip
while the value stays in range). Real parts only: a real redis-server, two real callgate
processes, one real upstream over Streamable HTTP, official SDK clients of both protocol
generations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import state_url_for
from tests.e2e.fleet import run_fleet
from tests.e2e.support import Setup, decision_meta, verdict

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SPEND_CAP = """\
version: "1"
tools:
  work:
    rules:
      - name: fleet spend cap
        conditions:
          - {path: state.work.units, op: lte, value: 50}
        on_deny: "the fleet has spent its 50 units for today"
        state: {counter: units, window: day, increment_from: args.n}
"""

CALLS = 200


@pytest.mark.parametrize("backend", [pytest.param("redis", marks=pytest.mark.redis), "sqlite"])
async def test_a_spend_cap_of_50_holds_exactly_across_two_instances(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    setup = Setup(tmp_path, SPEND_CAP)
    run = await run_fleet(setup, state_url_for(backend, request, tmp_path), "work", {"n": 1}, CALLS)
    verdicts = Counter(verdict(result) for result in run.results)
    reasons = {decision_meta(result)["reason"] for result in run.results if result.is_error}
    assert verdicts == {"allow": 50, "deny": 150}
    assert run.upstream_saw["work"] == 50
    assert reasons == {"the fleet has spent its 50 units for today"}
    audited = run.audits
    assert all(records for records in audited)  # both instances decided some calls
    decisions = Counter(record["decision"] for records in audited for record in records)
    assert decisions == {"allow": 50, "deny": 150}
