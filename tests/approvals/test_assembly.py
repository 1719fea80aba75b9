"""`open_approvals`: the pieces the composition root gets, built from a real policy file."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callgate.approvals.assembly import open_approvals
from callgate.approvals.store import ApprovalSetupError
from callgate.approvals.webhook import SIGNATURE_HEADER, verify_signature
from callgate.policy.decision import Verdict
from callgate.policy.loader import load_policy_text
from callgate.proxy.hooks import Peer
from tests.approvals.helpers import AGENT, call, needs_approval
from tests.approvals.receiver import serving

pytestmark = pytest.mark.anyio

POLICY = """\
version: "1"
approvals:
  mode: retry
  timeout: 5m
  approvers: [operator]
  webhook:
    url: {url}/hook
    secret_env: HOOK_SECRET
"""


def approvals_block(url: str) -> Any:
    return load_policy_text(POLICY.format(url=url)).approvals


async def test_a_new_request_is_audited_and_announced_to_the_policys_webhook(
    tmp_path: Path,
) -> None:
    posted: list[dict[str, Any]] = []
    arrived = anyio.Event()

    async def hook(request: Request) -> Response:
        body = await request.body()
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), b"k3y"):
            return Response(status_code=401)
        posted.append(json.loads(body))
        arrived.set()
        return Response(status_code=204)

    audit: list[Mapping[str, Any]] = []
    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        spec = approvals_block(url)
        with anyio.fail_after(10):
            async with open_approvals(
                lambda: spec,
                f"sqlite:///{tmp_path / 'state.db'}",
                audit.append,
                environ={"HOOK_SECRET": "k3y"},
            ) as approvals:
                decision = await approvals.resolve(
                    call(), needs_approval(), Peer("s3", "session-1", AGENT)
                )
                await arrived.wait()

    assert decision.verdict is Verdict.APPROVAL_REQUIRED
    assert posted[0]["approval"]["tool"] == "delete_bucket"
    assert [event["event"] for event in audit] == ["approval.requested", "approval.notified"]
    assert audit[0]["detail"] == {"timeout": 60}


async def test_an_unset_webhook_secret_stops_start_up(tmp_path: Path) -> None:
    spec = approvals_block("http://127.0.0.1:9")
    with pytest.raises(ApprovalSetupError, match="HOOK_SECRET"):
        async with open_approvals(
            lambda: spec, f"sqlite:///{tmp_path / 'state.db'}", print, environ={}
        ):
            pass


async def test_a_process_local_store_has_no_operator_to_ask() -> None:
    spec = load_policy_text('version: "1"\napprovals: {approvers: [operator]}\n').approvals
    async with open_approvals(lambda: spec, "memory://", print) as approvals:
        decision = await approvals.resolve(call(), needs_approval(), Peer("s3", "s1", AGENT))

    assert decision.verdict is Verdict.APPROVAL_REQUIRED
    assert "operators cannot reach this proxy's process-local approval store" in decision.reason


async def test_the_callers_own_error_comes_back_unwrapped(tmp_path: Path) -> None:
    spec = approvals_block("http://127.0.0.1:9")
    with pytest.raises(LookupError, match="from the transport"):
        async with open_approvals(
            lambda: spec,
            f"sqlite:///{tmp_path / 'state.db'}",
            print,
            environ={"HOOK_SECRET": "k3y"},
        ):
            raise LookupError("from the transport")


async def test_callgate_run_refuses_to_start_with_an_unset_webhook_secret(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(url="http://127.0.0.1:9"))
    environment = {k: v for k, v in os.environ.items() if k != "HOOK_SECRET"}
    environment["XDG_DATA_HOME"] = str(tmp_path / "data")

    done = await anyio.run_process(
        [sys.executable, "-m", "callgate", "run", "-c", str(policy), "--state",
         f"sqlite:///{tmp_path / 'state.db'}", "--", sys.executable, "-c", "pass"],
        check=False,
        env=environment,
    )  # fmt: skip

    assert done.returncode == 2
    assert (
        "approvals.webhook.secret_env names 'HOOK_SECRET', which is unset" in done.stderr.decode()
    )
