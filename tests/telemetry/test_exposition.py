"""Who may scrape `/metrics`, and which OTLP endpoint the settings name."""

from __future__ import annotations

import hashlib

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callgate.telemetry.exposition import MetricsRefusal, build_metrics_app, metrics_refusal
from callgate.telemetry.metrics import CallMetrics
from callgate.telemetry.settings import otlp_endpoint_from_env, traces_endpoint

pytestmark = pytest.mark.anyio

TOKEN = "operator-token"
DIGEST = hashlib.sha256(TOKEN.encode()).digest()


@pytest.mark.parametrize(
    ("client", "authorization", "digest", "expected"),
    [
        ("127.0.0.1", None, None, None),
        ("::1", None, DIGEST, None),
        ("::ffff:127.0.0.1", None, None, None),
        ("192.0.2.7", f"Bearer {TOKEN}", DIGEST, None),
        ("192.0.2.7", f"bearer {TOKEN}", DIGEST, None),
        ("192.0.2.7", None, DIGEST, 401),
        ("192.0.2.7", "Bearer guess", DIGEST, 401),
        ("192.0.2.7", f"Basic {TOKEN}", DIGEST, 401),
        ("192.0.2.7", f"Bearer {TOKEN}", None, 403),
        (None, f"Bearer {TOKEN}", DIGEST, None),
        (None, None, DIGEST, 401),
        ("not-an-address", None, None, 403),
    ],
)
def test_loopback_or_the_admin_token_may_scrape(
    client: str | None, authorization: str | None, digest: bytes | None, expected: int | None
) -> None:
    refusal = metrics_refusal(client, authorization, digest)
    assert (refusal.status if isinstance(refusal, MetricsRefusal) else None) == expected


async def scrape(client: str, token: str | None, headers: dict[str, str]) -> httpx2.Response:
    metrics = CallMetrics()
    metrics.reloads.labels("applied").inc()
    app = build_metrics_app(metrics.registry, token=token)
    transport = httpx2.ASGITransport(app=app, client=(client, 5000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://callgate") as http:
        return await http.get("/metrics", headers=headers)


async def test_a_remote_scraper_needs_the_admin_token() -> None:
    refused = await scrape("192.0.2.7", TOKEN, {})
    served = await scrape("192.0.2.7", TOKEN, {"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert served.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(served.text)}
    [applied] = [
        s for s in families["callgate_policy_reloads"].samples if s.name.endswith("_total")
    ]
    assert applied.labels == {"result": "applied"}
    assert applied.value == 1.0


async def test_without_a_token_only_loopback_is_served() -> None:
    assert (await scrape("192.0.2.7", None, {"Authorization": "Bearer x"})).status_code == 403
    assert (await scrape("127.0.0.1", None, {})).status_code == 200


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://otel.example/prefix", "https://otel.example/prefix/v1/traces"),
    ],
)
def test_a_collectors_base_url_gets_the_traces_path_once(url: str, expected: str) -> None:
    assert traces_endpoint(url) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/traces",
            },
            "http://t:9/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
    ],
)
def test_the_standard_variables_name_the_endpoint(
    environ: dict[str, str], expected: str | None
) -> None:
    assert otlp_endpoint_from_env(environ) == expected
