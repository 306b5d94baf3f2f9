"""Tools from an OpenAPI document (``Registry.from_openapi``): one per operation, its schema
built from the parameters and the JSON body with every $ref inlined, each call a real HTTP
request to a petstore served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from proctor.contracts import Contract
from proctor.errors import ToolExecutionError, UsageError
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner, Workflow
from proctor.store import MemoryStore, PolicyDecided, ToolFinished, ToolStarted, row_to_event
from proctor.tools import Registry, Tool, ToolArgumentsError, ToolContext
from proctor.tools._openapi_http import Operation, OperationFailed
from support.petstore import PETSTORE, PetServer, serving_petstore


@pytest.fixture(scope="module")
def served() -> Iterator[PetServer]:
    with serving_petstore() as pets:
        yield pets


@pytest.fixture
def pets(served: PetServer) -> PetServer:
    served.seen.clear()
    return served


def context(key: str = "run-1:1") -> ToolContext:
    return ToolContext(
        run_id="run-1",
        call_id="c1",
        step=1,
        idempotency_key=key,
        logger=logging.getLogger("proctor.tests"),
    )


def petstore(url: str = "http://127.0.0.1:9/v1", **options: Any) -> Registry:
    options.setdefault("headers", {"X-Api-Key": "k-1"})
    return Registry.from_openapi(PETSTORE, base_url=url, prefix="shop.", **options)


def tool(registry: Registry, name: str) -> Tool:
    found = registry.get(name)
    assert found is not None
    return found


def test_one_tool_per_operation_named_effects_from_methods(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="proctor.tools"):
        registry = petstore(effects={"searchPets": "read"})
    assert registry.names == [
        "shop.createPet",
        "shop.delete_pets_by_petId",
        "shop.files.get",
        "shop.health_check",  # "health check": what a name cannot hold becomes '_'
        "shop.listPets",
        "shop.searchPets",
        "shop.showPetById",
    ]
    assert "upload" in caplog.text  # a multipart body cannot be sent: left out, and said
    effects = {t.name: (t.effect, t.idempotent) for t in registry}
    assert effects["shop.listPets"] == ("read", True)
    assert effects["shop.createPet"] == ("write", False)
    assert effects["shop.delete_pets_by_petId"] == ("write", True)
    assert effects["shop.searchPets"] == ("read", False)  # effects= overrides the method
    assert tool(registry, "shop.listPets").description == "List pets.\n\nNewest first."
    assert tool(registry, "shop.health_check").description == "GET /health"

    chosen = Registry.from_openapi(
        PETSTORE, base_url="http://127.0.0.1:9", operations=["showPetById", "listPets"]
    )
    assert chosen.names == ["listPets", "showPetById"]


def test_the_schema_holds_parameters_and_body_with_refs_inlined() -> None:
    registry = petstore()
    assert tool(registry, "shop.listPets").parameters == {
        "type": "object",
        "properties": {
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "description": "At most this many.",
            },
            "tag": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only pets with these tags.",
            },
            "X-Request-Id": {"type": "string"},
        },  # X-Api-Key is not there: headers= supplies it
        "additionalProperties": False,
    }
    delete = tool(registry, "shop.delete_pets_by_petId").parameters
    assert delete["properties"]["petId"] == {"type": "integer", "description": "The pet to remove."}
    assert delete["required"] == ["petId"]  # the operation's parameter overrides the path's

    create = tool(registry, "shop.createPet").parameters
    assert list(create["properties"]) == ["body"]  # Idempotency-Key is the runtime's
    assert create["required"] == ["body"]
    body = create["properties"]["body"]
    assert body["required"] == ["name"]
    assert body["properties"]["tag"] == {"type": ["string", "null"]}  # 3.0's nullable
    category = body["properties"]["category"]
    assert category["properties"]["parent"]["properties"]["name"] == {"type": "string"}
    assert category["properties"]["parent"]["properties"]["parent"] == {
        "description": "a Category: not expanded further (recursive)"
    }
    assert "$ref" not in repr(create)


def test_arguments_are_validated_against_that_schema() -> None:
    registry = petstore()
    show, create = tool(registry, "shop.showPetById"), tool(registry, "shop.createPet")
    assert show.validate({"petId": 3}) == {"petId": 3}
    with pytest.raises(ToolArgumentsError) as raised:
        show.validate({"petId": 0, "verbose": True})
    assert "petId:" in str(raised.value)
    assert "verbose" in str(raised.value)
    with pytest.raises(ToolArgumentsError, match="body"):
        create.validate({})
    with pytest.raises(ToolArgumentsError, match=r"body\.name"):
        create.validate({"body": {"name": ""}})
    assert create.validate({"body": {"name": "Tom", "tag": None}})


async def test_a_read_sends_path_query_and_headers_without_an_idempotency_key(
    pets: PetServer,
) -> None:
    async with httpx2.AsyncClient() as client:
        registry = petstore(pets.url, client=client)
        listed = await tool(registry, "shop.listPets").run(
            context(), {"limit": 2, "tag": ["a", "b"], "X-Request-Id": "r-1"}
        )
        assert listed == [{"id": 1, "name": "Rex"}]
        seen = pets.last()
        assert (seen["method"], seen["path"], seen["query"]) == (
            "GET",
            "/v1/pets",
            "limit=2&tag=a&tag=b",
        )
        assert seen["headers"]["x-request-id"] == "r-1"
        assert seen["headers"]["x-api-key"] == "k-1"
        assert "idempotency-key" not in seen["headers"]

        named = await tool(registry, "shop.files.get").run(context(), {"name": "a b/c"})
        assert named == {"name": "a b/c"}
        assert pets.last()["path"] == "/v1/files/a%20b%2Fc"  # one path segment, encoded
        assert await tool(registry, "shop.health_check").run(context(), {}) == "ok"  # text


async def test_a_write_sends_its_json_body_and_the_idempotency_key(pets: PetServer) -> None:
    async with httpx2.AsyncClient() as client:
        registry = petstore(pets.url, client=client)
        created = await tool(registry, "shop.createPet").run(
            context("run-1:4"), {"body": {"name": "Tom", "tag": None}}
        )
        assert created == {"id": 2, "name": "Tom", "tag": None}
        seen = pets.last()
        assert (seen["method"], seen["path"], seen["body"]) == (
            "POST",
            "/v1/pets",
            b'{"name":"Tom","tag":null}',
        )
        assert seen["headers"]["content-type"] == "application/json"
        assert seen["headers"]["idempotency-key"] == "run-1:4"
        assert (
            await tool(registry, "shop.delete_pets_by_petId").run(context(), {"petId": 1}) is None
        )


async def test_a_status_other_than_2xx_is_the_tools_error(pets: PetServer) -> None:
    show = tool(petstore(pets.url), "shop.showPetById")  # the registry's own client
    assert await show.run(context(), {"petId": 1}) == {"id": 1, "name": "Rex"}
    with pytest.raises(ToolExecutionError) as raised:
        await show.run(context(), {"petId": 7})
    failed = raised.value
    assert isinstance(failed, OperationFailed)
    assert failed.status == 404
    assert str(failed) == (
        f'showPetById: HTTP 404 Not Found from GET {pets.url}/pets/7: {{"detail":"no pet 7"}}'
    )


def test_the_registrys_own_client_is_closed_with_its_event_loop(pets: PetServer) -> None:
    show = tool(petstore(pets.url), "shop.showPetById")
    assert isinstance(show.function, Operation)
    http = show.function.http

    async def call() -> httpx2.AsyncClient:
        assert await show.run(context(), {"petId": 1}) == {"id": 1, "name": "Rex"}
        return await http.client()

    first = asyncio.run(call())
    assert first.is_closed  # asyncio.run closed it: no connection outlives its loop
    second = asyncio.run(call())  # a registry defined once serves run after run
    assert second is not first
    assert second.is_closed


async def test_an_unreachable_server_is_the_tools_error_naming_the_operation() -> None:
    async with httpx2.AsyncClient() as client:
        registry = petstore("http://127.0.0.1:9/v1", client=client)  # port 9: nothing there
        with pytest.raises(OperationFailed, match=r"^listPets: GET http://127\.0\.0\.1:9/v1/pets"):
            await tool(registry, "shop.listPets").run(context(), {})


def with_paths(paths: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {}, "paths": paths, **more}


def get(*parameters: dict[str, Any], operation_id: str = "op") -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "parameters": list(parameters)}}


@pytest.mark.parametrize(
    ("document", "options", "says"),
    [
        ({"swagger": "2.0", "paths": {}}, {}, "not an OpenAPI 3 document.*'2.0'.*convert"),
        (with_paths({}), {}, "has no paths"),
        (
            with_paths({"/a": get({"$ref": "#/components/parameters/Nope"})}),
            {},
            r"GET /a: \$ref '#/components/parameters/Nope' points at nothing",
        ),
        (
            with_paths({"/a": get({"$ref": "common.yaml#/Limit"})}),
            {},
            "points outside the document; bundle",
        ),
        (with_paths({"/a/{id}": get()}), {}, "no path parameter describes id"),
        (
            with_paths({"/a": get(), "/b": get(operation_id="op")}),
            {},
            "two operations have the operationId 'op'",
        ),
        (
            with_paths({"/a": get(operation_id="a b"), "/b": get(operation_id="a_b")}),
            {},
            "'a b' and 'a_b' both become the tool 'a_b'",
        ),
        (with_paths({"/a": get()}), {"base_url": None}, "it names no server.*pass base_url="),
        (
            with_paths({"/a": get()}, servers=[{"url": "/api"}]),
            {"base_url": None},
            "first server's URL is '/api'.*pass base_url=",
        ),
        (
            with_paths({"/a": get()}),
            {"operations": ["nope"]},
            "does not have: nope; its operations: op",
        ),
        (with_paths({"/a": get()}), {"effects": {"nope": "read"}}, "effects names operations"),
        (PETSTORE, {"operations": ["upload"]}, "'upload'.*multipart/form-data.*only JSON"),
    ],
)
def test_a_document_that_cannot_work_is_refused_saying_why(
    document: dict[str, Any], options: dict[str, Any], says: str
) -> None:
    options.setdefault("base_url", "http://127.0.0.1:9")
    with pytest.raises(UsageError, match=says):
        Registry.from_openapi(document, **options)


def test_interlinked_schemas_are_inlined_within_bounds() -> None:
    # Ten schemas each referring to all ten: inlined without limits, 10**10 copies.
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/components/schemas/S{j}"} for j in range(10)},
        }
        for i in range(10)
    }
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}
    document = with_paths(
        {"/a": {"post": {"operationId": "op", "requestBody": body}}},
        components={"schemas": schemas},
    )
    started = time.perf_counter()
    schema = tool(Registry.from_openapi(document, base_url="http://127.0.0.1:9"), "op").parameters
    assert time.perf_counter() - started < 2
    text = json.dumps(schema)
    assert len(text) < 200_000
    assert "not expanded further (the schema is too large)" in text
    assert "$ref" not in text


def test_the_first_servers_url_is_the_default_base() -> None:
    document = with_paths(
        {"/a": get()},
        servers=[
            {"url": "https://{region}.example.com/v2/", "variables": {"region": {"default": "eu"}}}
        ],
    )
    op = tool(Registry.from_openapi(document), "op").function
    assert isinstance(op, Operation)
    assert op.base_url == "https://eu.example.com/v2"


async def test_an_operation_runs_through_policy_and_the_record(pets: PetServer) -> None:
    turns = [
        Turn(calls=[("shop.createPet", {"body": {"name": ""}})]),  # refused by the schema
        Turn(calls=[("shop.createPet", {"body": {"name": "Tom"}})]),
        Turn(calls=[("shop.showPetById", {"petId": 7})]),
        Turn(text="Tom is in; pet 7 does not exist."),
    ]
    registry = petstore(pets.url)
    workflow = Workflow(
        name="shop",
        registry=registry,
        contract=Contract.model_validate({"workflow": "shop"}),
        instructions="Keep the pet shop.",
        default_model="scripted:t",
        scripts={"t": lambda: ScriptedModel(scenario="t", script=turns)},
    )
    store = MemoryStore()
    result = await Runner(store, workflow).start({})
    assert result.outcome == "resolved"
    events = [row_to_event(row).data for row in await store.events(result.run_id)]
    rules = [e.rule for e in events if isinstance(e, PolicyDecided)]
    assert rules[0] == "schema.invalid_arguments"
    started = [e for e in events if isinstance(e, ToolStarted)]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(e.tool, e.ok) for e in finished] == [
        ("shop.createPet", True),
        ("shop.showPetById", False),
    ]
    assert finished[0].result == {"id": 2, "name": "Tom"}
    assert finished[1].error_type == "OperationFailed"
    assert "HTTP 404" in (finished[1].error or "")
    posts = [s for s in pets.seen if s["method"] == "POST"]
    assert len(posts) == 1  # the invalid call never reached the server
    assert posts[0]["headers"]["idempotency-key"] == started[0].idempotency_key
    assert started[0].idempotency_key.startswith(result.run_id)
