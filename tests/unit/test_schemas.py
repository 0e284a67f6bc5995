"""The models are the contract: every response the service gives (successes, refusals and
failures, REST and JSON-RPC) matches the schema /openapi.json documents for its operation
and status, and reads back into its model unchanged; the request schema refuses exactly
what the service refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import ValidationError as SchemaError
from openapi_schema_validator import OAS31Validator
from pydantic import BaseModel

from lucia.errors import InvalidInput
from lucia.schemas import a2a, rest
from lucia.schemas.base import Contract
from lucia.validation import validate
from lucia_sims import homeassistant
from tests.support.redis_server import free_port
from tests.unit.conftest import MakeClient, sim_url

JSON = {"Content-Type": "application/json"}


class Contracted:
    """A client that checks each answer against the operation's documented response."""

    def __init__(self, client: TestClient, document: dict[str, Any]) -> None:
        self.client = client
        self.document = document
        self.checked: list[tuple[str, str, int]] = []

    async def call(self, method: str, template: str, path: str | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(method, path or template, **kwargs)
        body = await self._check(method.lower(), template, response)
        return response.status, body

    async def _check(self, method: str, template: str, response: ClientResponse) -> Any:
        responses = self.document["paths"][template][method]["responses"]
        status = str(response.status)
        assert status in responses, f"{method} {template} answered undocumented {status}"
        content = responses[status].get("content")
        if content is None:
            assert await response.read() == b""
            return None
        body = await response.json()
        schema = {**content["application/json"]["schema"],
                  "components": self.document["components"]}
        OAS31Validator(schema).validate(body)
        self.checked.append((method, template, response.status))
        return body


@pytest.fixture
async def contracted(make_client: MakeClient, ha_sim: TestServer) -> Contracted:
    client = await make_client(home_assistant_url=sim_url(ha_sim),
                               home_assistant_token=homeassistant.DEFAULT_TOKEN)
    document = await (await client.get("/openapi.json")).json()
    return Contracted(client, document)


def send(text: str, **message: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "r-1", "method": "message/send", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "m-1",
        "parts": [{"kind": "text", "text": text}], **message}}}


async def test_rest_answers_match_their_documented_responses(contracted: Contracted) -> None:
    call = contracted.call
    await call("GET", "/alive")
    await call("GET", "/health")
    await call("GET", "/api/agents")
    await call("GET", "/api/agents/{agentId}", "/api/agents/light-agent")
    await call("GET", "/api/agents/{agentId}", "/api/agents/toaster")
    await call("GET", "/api/agents/{agentId}/health", "/api/agents/general-assistant/health")
    await call("GET", "/.well-known/agent-card.json")
    await call("GET", "/a2a/{agentId}/.well-known/agent-card.json",
               "/a2a/climate-agent/.well-known/agent-card.json")
    _, chat = await call("POST", "/api/chat", json={"message": "turn on the kitchen light"})
    _, dry = await call("POST", "/api/chat", json={"message": "turn off the kitchen light",
                                                   "sessionId": chat["sessionId"]},
                        headers={"X-Lucia-Dry-Run": "true"})
    assert dry["dryRun"] is True
    assert dry["actions"]
    await call("GET", "/api/sessions/{sessionId}", f"/api/sessions/{chat['sessionId']}")
    await call("GET", "/api/tasks/{taskId}", f"/api/tasks/{dry['taskId']}")
    await call("DELETE", "/api/sessions/{sessionId}", f"/api/sessions/{chat['sessionId']}")
    for path in ("/api/sessions/{sessionId}", "/api/tasks/{taskId}"):
        assert (await call("GET", path, path.split("{")[0] + "gone"))[0] == 404
        assert (await call("GET", path, path.split("{")[0] + "bad%20id"))[0] == 400
    for body, headers in (("{oops", JSON), ('{"message": ""}', JSON), ("{}", {}),
                          ('{"message": "hi", "x": 1}', JSON)):
        status, _ = await call("POST", "/api/chat", data=body, headers=headers)
        assert status in (400, 415)
    assert len(contracted.checked) >= 20


async def test_a2a_answers_match_the_documented_json_rpc_response(
        contracted: Contracted) -> None:
    call = contracted.call
    path = ("POST", "/a2a/{agentId}", "/a2a/orchestrator")
    _, sent = await call(*path, json=send("hello"))
    task_id = sent["result"]["id"]
    replies = [sent]
    for body in (
        {"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
         "params": {"id": task_id, "historyLength": 1}},
        {"jsonrpc": "2.0", "id": 3, "method": "tasks/cancel", "params": {"id": task_id}},
        {"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {"id": "missing"}},
        {"jsonrpc": "2.0", "id": 5, "method": "tasks/explode"},
        [{"batch": True}],
        send("  "),
        send("hi", parts=[{"kind": "file"}]),
        send("hi", contextId="../bad"),
    ):
        replies.append((await call(*path, json=body))[1])
    replies.append((await call(*path, data="{oops", headers=JSON))[1])
    codes = [reply["error"]["code"] for reply in replies if "error" in reply]
    assert codes == [-32002, -32001, -32601, -32600, -32602, -32005, -32602, -32700]
    assert replies[6]["error"]["data"] == {"code": "empty_message"}
    assert replies[7]["error"]["data"] == {"kind": "file"}
    for reply in replies:  # and each reads back into the model it was documented by
        assert round_trip(a2a.JsonRpcResponse, reply) == reply


async def test_failures_match_the_documented_responses(make_client: MakeClient) -> None:
    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0",
                               chat_model=f"Endpoint=http://127.0.0.1:{free_port()}/v1;"
                                          "AccessKey=k;Model=m;Provider=openai")
    document = await (await client.get("/openapi.json")).json()
    contracted = Contracted(client, document)
    status, health = await contracted.call("GET", "/health")
    assert (status, health["services"]["llm"]) == (503, "Unreachable")
    assert (await contracted.call("GET", "/api/agents/{agentId}/health",
                                  "/api/agents/light-agent/health"))[0] == 503
    assert (await contracted.call("POST", "/api/chat", json={"message": "hi"}))[0] == 503
    _, reply = await contracted.call("POST", "/a2a/{agentId}", "/a2a/orchestrator",
                                     json=send("hi"))
    assert reply["error"]["data"] == {"code": "redis_unavailable"}


def round_trip(model: type[BaseModel], body: Any) -> Any:
    return model.model_validate(body).model_dump(mode="json")


async def test_responses_read_back_into_their_models_unchanged(ha_client: TestClient) -> None:
    chat = await (await ha_client.post("/api/chat", json={"message": "hello"},
                                       headers={"X-Lucia-Dry-Run": "true"})).json()
    pairs: list[tuple[type[BaseModel], Any]] = [
        (rest.ChatResponse, chat),
        (rest.Session, await (await ha_client.get(f"/api/sessions/{chat['sessionId']}")).json()),
        (a2a.Task, await (await ha_client.get(f"/api/tasks/{chat['taskId']}")).json()),
        (rest.Health, await (await ha_client.get("/health")).json()),
        (rest.AgentHealth, await (await ha_client.get("/api/agents/light-agent/health")).json()),
        (rest.Alive, await (await ha_client.get("/alive")).json()),
        (rest.Error, await (await ha_client.get("/api/tasks/none")).json()),
        *((a2a.AgentCard, card) for card in await (await ha_client.get("/api/agents")).json()),
    ]
    for model, body in pairs:
        assert round_trip(model, body) == body, model.__name__


# Request bodies: the contract's ChatRequest schema and the service agree on each.
BODIES = [
    {"message": "hi"}, {"message": "hi", "sessionId": "s-1"}, {"message": "x" * 40},
    {"message": "x" * 41}, {}, {"message": ""}, {"message": " \n\t"}, {"message": "\x1c"},
    {"message": "\ufeff"}, {"message": 42}, {"message": None}, {"message": "hi", "x": 1},
    {"message": "hi", "sessionId": None}, {"message": "hi", "sessionId": 7},
    {"message": "hi", "sessionId": ""}, {"message": "hi", "sessionId": "../etc"},
    {"message": "hi", "sessionId": "a" * 129},
    {"message": "hi", "sessionId": "a" * 128}, [1], "hi",
]


@pytest.mark.parametrize("body", BODIES, ids=[json.dumps(b)[:40] for b in BODIES])
async def test_the_chat_request_schema_refuses_exactly_what_the_service_refuses(
        make_client: MakeClient, body: Any) -> None:
    client = await make_client(max_message_chars=40)
    document = await (await client.get("/openapi.json")).json()
    schema = {**document["paths"]["/api/chat"]["post"]["requestBody"]["content"][
        "application/json"]["schema"], "components": document["components"]}
    try:
        OAS31Validator(schema).validate(body)
        documented_valid = True
    except SchemaError:
        documented_valid = False
    response = await client.post("/api/chat", json=body)
    assert (response.status == 200) == documented_valid, await response.text()


async def test_an_id_with_a_trailing_newline_is_refused_as_ecmascript_does(
        client: TestClient) -> None:
    """The contract's patterns are ECMAScript's, whose `$` ends the text. Python's `re` (and
    so the validator above) would let `$` match before a final newline: not the service."""
    response = await client.post("/api/chat", json={"message": "hi", "sessionId": "a\n"})
    assert (await response.json())["error"]["code"] == "invalid_session_id"


class _Undeclared(Contract):
    count: int


def test_a_field_without_declared_words_is_still_a_400_naming_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate(_Undeclared, {"count": "3"})
    assert refused.value.code == "invalid_request"
    assert refused.value.message.startswith("count: ")
