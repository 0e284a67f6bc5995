"""The OpenAPI document validates, covers exactly the registered routes, and the
service's real responses match its schemas."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from lucia.app import create_app
from lucia.settings import Settings
from tests.unit.conftest import MakeClient


@pytest.fixture
async def document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status == 200
    return await response.json()


def registered_operations() -> set[tuple[str, str]]:
    app = create_app(Settings())
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


async def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_document_covers_exactly_the_registered_routes(document: dict[str, Any]) -> None:
    assert documented_operations(document) == registered_operations()


async def test_every_operation_documents_its_errors_and_has_an_id(
        document: dict[str, Any]) -> None:
    operation_ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert "401" not in operation["responses"], f"{method} {path}: no key, no 401"
            if "requestBody" in operation:
                assert {"413", "415"} <= set(operation["responses"]), f"{method} {path}"
    assert len(operation_ids) == len(set(operation_ids))


async def test_with_an_api_key_protected_operations_require_it(make_client: MakeClient) -> None:
    client = await make_client(api_key="k")
    document = await (await client.get("/openapi.json")).json()
    validate(document)
    assert document["security"] == [{"ApiKey": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            protected = path.startswith(("/api/", "/a2a/")) and "well-known" not in path
            if protected:
                assert "401" in operation["responses"], f"{method} {path} lacks 401"
                assert "security" not in operation, f"{method} {path} overrides security"
            else:
                assert operation["security"] == [], f"{method} {path} should be open"


async def test_without_an_api_key_nothing_is_secured(document: dict[str, Any]) -> None:
    assert document["security"] == []
    assert "securitySchemes" not in document["components"]


async def test_chat_links_to_its_session_and_task(document: dict[str, Any]) -> None:
    links = document["paths"]["/api/chat"]["post"]["responses"]["200"]["links"]
    ids = {link["operationId"] for link in links.values()}
    assert ids == {"getSession", "deleteSession", "getTask"}
    assert ids <= {op["operationId"] for item in document["paths"].values()
                   for op in item.values()}


def check(document: dict[str, Any], schema_name: str, instance: Any) -> None:
    schema = {**document["components"]["schemas"][schema_name],
              "components": document["components"]}
    # Refs point at #/components/...; resolve them inside this wrapper document.
    OAS31Validator(schema).validate(instance)


async def test_real_responses_match_their_schemas(client: TestClient,
                                                  document: dict[str, Any]) -> None:
    chat = await (await client.post("/api/chat", json={"message": "hello"})).json()
    check(document, "ChatResponse", chat)
    check(document, "Session",
          await (await client.get(f"/api/sessions/{chat['sessionId']}")).json())
    check(document, "Task", await (await client.get(f"/api/tasks/{chat['taskId']}")).json())
    check(document, "Health", await (await client.get("/health")).json())
    for card in await (await client.get("/api/agents")).json():
        check(document, "AgentCard", card)
    check(document, "Error", await (await client.get("/api/tasks/none")).json())


async def test_message_limit_in_document_follows_settings(make_client: MakeClient) -> None:
    client = await make_client(max_message_chars=123)
    document = await (await client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["ChatRequest"]["properties"]["message"][
        "maxLength"] == 123
