"""``/docs``: Swagger UI over ``/openapi.json``, served from the installed package's own
assets, so the page works offline (FastAPI's default loads them from a CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local assets, with a Bearer key "Authorize"."""
    assets = Path(str(swagger_ui_bundle.swagger_ui_path))
    app.mount(ASSETS, StaticFiles(directory=assets), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            # No badge from validator.swagger.io: the page must not call out.
            swagger_ui_parameters={"validatorUrl": None},
        )

    plain = app.openapi

    def openapi() -> dict[str, Any]:
        # Declared here, not per route: every /api/v1 route takes the same Bearer key
        # (checked by the current_principal dependency), and Swagger UI's "Authorize"
        # then sends it with each "Try it out".
        if app.openapi_schema is None:
            schema = plain()
            _drop_validation_errors(schema)
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {})["apiKey"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "A Proctor API key: proctor keys create --role ROLE --tenant T",
            }
            schema["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_validation_errors(schema: dict[str, Any]) -> None:
    """Remove the 422 FastAPI documents on every operation with parameters: a value that
    fails its type or range is answered 400 with the error body (see ``_errors``)."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            found = responses.get("422", {})
            ref = found.get("content", {}).get("application/json", {}).get("schema", {})
            if ref.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
