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
