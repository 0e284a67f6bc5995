"""The route table: every public path, in one list (the OpenAPI test compares to it)."""

from __future__ import annotations

from aiohttp import web

from lucia import a2a, views


def setup_routes(app: web.Application) -> None:
    app.add_routes([
        web.get("/alive", views.alive),
        web.get("/health", views.health),
        web.get("/api/agents", views.list_agents),
        web.get("/api/agents/{agentId}", views.get_agent),
        web.get("/api/agents/{agentId}/health", views.agent_health),
        web.post("/api/chat", views.chat),
        web.get("/api/sessions/{sessionId}", views.get_session),
        web.delete("/api/sessions/{sessionId}", views.delete_session),
        web.get("/api/tasks/{taskId}", views.get_task),
        web.post("/a2a/{agentId}", a2a.handle),
        web.get("/.well-known/agent-card.json", views.well_known_card),
        web.get("/a2a/{agentId}/.well-known/agent-card.json", views.agent_well_known_card),
        web.get("/openapi.json", views.openapi),
        web.get("/metrics", views.metrics),
    ])
