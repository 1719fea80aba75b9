"""Require approval: calls held for a person's decision, bound to a call fingerprint.

`fingerprint` (what is approved), `model` (requests, resolutions, grants, events),
`store` (the `ApprovalStore` port; backends in `callgate.state.approvals_*`), `broker`
(wait and retry modes), `webhook`, `admin` and `elicitation` (the channels).
"""
