"""Policy replay: judge the calls an audit log recorded again, under a new policy.

`callgate replay -c NEW_POLICY` reads the recorded `tools/call` decisions, judges each
with the new policy the way the proxy would have (the same compiled policy and engine,
rate limits and counters simulated in time order in a memory store), and reports the
calls that would now be treated differently. Pure, but for the counter store (a port):

    arguments.py    recorded arguments as the engine reads them, with holes where the
                    record does not hold a value (redacted, or only hashed)
    recorded.py     audit records -> `RecordedCall`s, with the decision each got
    simulation.py   judging the calls in time order -> `Judged` (new decision, or why
                    replay cannot tell)
    report.py       grouping the changes -> `Report` (counts, examples, JSON)

Reading the audit directory (`callgate.audit.reading`) and printing are the CLI's
(`callgate.cli.replay`).

Errors:

```
CallgateError
└── ValueNotRecorded   code "replay.not-recorded"   the engine read a value the record
                                                   does not hold; caught per call
```
"""

from __future__ import annotations

from callgate.replay.arguments import NOT_RECORDED, ValueNotRecorded, with_holes
from callgate.replay.recorded import (
    OldDecision,
    Reading,
    RecordedCall,
    read_calls,
)
from callgate.replay.report import Change, Group, Report, build_report, change_of
from callgate.replay.simulation import Judged, NewDecision, judge_calls

__all__ = [
    "NOT_RECORDED",
    "Change",
    "Group",
    "Judged",
    "NewDecision",
    "OldDecision",
    "Reading",
    "RecordedCall",
    "Report",
    "ValueNotRecorded",
    "build_report",
    "change_of",
    "judge_calls",
    "read_calls",
    "with_holes",
]
