"""What the telemetry tests share: the fixture policy and reading parsed families."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

Labels = tuple[tuple[str, str], ...]

ECHO_POLICY = """\
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: no-secrets
        on_deny: "no secrets"
        conditions:
          - {path: args.text, op: not_regex, value: secret}
"""
"""`echo` is denied by rule `no-secrets` when its text says "secret"; all else is allowed."""


def samples(family: Metric, name: str) -> dict[Labels, float]:
    """The values of the samples called `name`, keyed by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if sample.name == name
    }


def echo_labels(decision: str, rule: str, tool: str = "echo") -> Labels:
    """The labels of one `callgate_decisions_total` series of the `fixture` server."""
    return (("decision", decision), ("rule", rule), ("server", "fixture"), ("tool", tool))
