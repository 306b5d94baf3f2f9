"""A small petstore for OpenAPI tools: its OpenAPI 3.0 document (with $refs, path, query
and header parameters, a JSON body, a recursive schema, a multipart upload) and a Starlette
app serving it under /v1 on a real loopback port, remembering every request it gets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

PETSTORE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Petstore", "version": "1.0"},
    "servers": [{"url": "/v1"}],  # relative: tests pass base_url
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "summary": "List pets.",
                "description": "Newest first.",
                "parameters": [
                    {"$ref": "#/components/parameters/Limit"},
                    {
                        "name": "tag",
                        "in": "query",
                        "description": "Only pets with these tags.",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                    # Supplied by headers=, never by the model:
                    {"name": "X-Api-Key", "in": "header", "required": True, "schema": {}},
                ],
                "responses": {"200": {"description": "Pets."}},
            },
            "post": {
                "operationId": "createPet",
                "summary": "Add a pet.",
                "parameters": [  # the runtime sends its own key: not the model's to choose
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
                ],
                "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
                "responses": {"201": {"description": "Created."}},
            },
        },
        "/pets/search": {
            "post": {
                "operationId": "searchPets",
                "requestBody": {
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {"200": {"description": "Pets."}},
            }
        },
        "/pets/{petId}": {
            "parameters": [
                {
                    "name": "petId",
                    "in": "path",
                    "required": True,
                    "description": "The pet.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            ],
            "get": {"operationId": "showPetById", "summary": "One pet.", "responses": {}},
            "delete": {  # no operationId: named after method and path
                "summary": "Remove a pet.",
                "parameters": [
                    {
                        "name": "petId",
                        "in": "path",
                        "required": True,
                        "description": "The pet to remove.",
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"204": {"description": "Gone."}},
            },
        },
        "/files/{name}": {
            "get": {
                "operationId": "files.get",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {},
            }
        },
        "/health": {"get": {"operationId": "health check", "responses": {}}},
        "/uploads": {
            "post": {
                "operationId": "upload",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": {"type": "object"}}},
                },
                "responses": {},
            }
        },
    },
    "components": {
        "parameters": {
            "Limit": {
                "name": "limit",
                "in": "query",
                "description": "At most this many.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
            }
        },
        "requestBodies": {
            "NewPet": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}
                },
            }
        },
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "tag": {"type": "string", "nullable": True},
                    "category": {"$ref": "#/components/schemas/Category"},
                },
            },
            "Category": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "parent": {"$ref": "#/components/schemas/Category"},
                },
            },
        },
    },
}


@dataclass
class PetServer:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    def last(self) -> dict[str, Any]:
        return self.seen[-1]


def petstore_app(server: PetServer) -> Starlette:
    async def record(request: Request) -> None:
        server.seen.append(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )

    async def list_pets(request: Request) -> Response:
        await record(request)
        return JSONResponse([{"id": 1, "name": "Rex"}])

    async def create_pet(request: Request) -> Response:
        await record(request)
        return JSONResponse({"id": 2, **(await request.json())}, status_code=201)

    async def show_pet(request: Request) -> Response:
        await record(request)
        pet_id = request.path_params["petId"]
        if pet_id == "1":
            return JSONResponse({"id": 1, "name": "Rex"})
        return JSONResponse({"detail": f"no pet {pet_id}"}, status_code=404)

    async def delete_pet(request: Request) -> Response:
        await record(request)
        return Response(status_code=204)

    async def get_file(request: Request) -> Response:
        await record(request)
        return JSONResponse({"name": request.path_params["name"]})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/pets", list_pets, methods=["GET"]),
        Route("/pets", create_pet, methods=["POST"]),
        Route("/pets/{petId}", show_pet, methods=["GET"]),
        Route("/pets/{petId}", delete_pet, methods=["DELETE"]),
        Route("/files/{name:path}", get_file),
        Route("/health", health),
    ]
    return Starlette(routes=[Mount("/v1", routes=routes)])


@contextmanager
def serving_petstore() -> Iterator[PetServer]:
    """The petstore on a loopback port, served by uvicorn in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    pets = PetServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
    config = uvicorn.Config(
        petstore_app(pets), lifespan="off", log_level="warning", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the petstore did not start")
            time.sleep(0.01)
        yield pets
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
