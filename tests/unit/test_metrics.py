"""/metrics: Prometheus text with request counts by route template, latency histograms
and routing decisions."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    await client.get("/api/sessions/abc")
    await client.get("/api/sessions/def")
    await client.post("/api/chat", json={"message": "turn on the lamp"})
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert ('lucia_http_requests_total{method="GET",route="/api/sessions/{sessionId}",'
            'status="404"} 2.0') in text
    assert 'lucia_http_request_duration_seconds_bucket{le="0.005",method="POST",' \
           'route="/api/chat"}' in text
    assert 'lucia_routing_decisions_total{agent="light-agent",method="skills"} 1.0' in text


async def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    for path in ("/a", "/b", "/c"):
        await client.get(path)
    text = await (await client.get("/metrics")).text()
    assert 'lucia_http_requests_total{method="GET",route="unmatched",status="404"} 3.0' in text


def test_observe_request_counts_each_request_through_its_kept_children() -> None:
    from lucia.metrics import Metrics

    metrics = Metrics()
    for status in (200, 200, 404):
        metrics.observe_request("GET", "/alive", status, 0.002)
    text = metrics.render().decode()
    assert 'lucia_http_requests_total{method="GET",route="/alive",status="200"} 2.0' in text
    assert 'lucia_http_requests_total{method="GET",route="/alive",status="404"} 1.0' in text
    assert 'lucia_http_request_duration_seconds_count{method="GET",route="/alive"} 3.0' in text
