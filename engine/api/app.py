"""The upload API of the contract: create an evaluation job and hand out its signed upload URL.

    app = create_app(Store.open(settings.database_url), GcsSigner(settings.bucket), settings)

Routes (`routes`): ``POST /v1/evaluations/presigned-upload`` (the contract),
``GET /v1/evaluations/{job_id}``, ``GET /healthz``, ``GET /readyz``, and the OpenAPI schema
at ``/openapi.json`` (docs at ``/docs``). Every error has one JSON shape (`errors`).
Authentication is checked before anything else, so a request without a valid key gets 401
whatever its body.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from ..settings import Settings
from ..storage.upload_urls import UploadSigner
from ..store import Store
from .auth import request_org
from .errors import BodyLimit, install_error_handlers
from .routes import evaluations, operations

__all__ = ["API_DESCRIPTION", "MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 256 * 1024  # a valid body is at most ~150 KB, even with every character \u-escaped

API_DESCRIPTION = """\
Create an evaluation job, upload the file straight to storage with the pre-signed URL, and
receive the result by signed webhook (or read it from `GET /v1/evaluations/{job_id}`).

**Authentication:** every `/v1/` request carries your organisation's API key in the
`X-API-Key` header. It is checked before the body: without a valid key the answer is 401.

**Errors** all have one shape, whatever the status:

```json
{"error": {"code": "invalid_request", "message": "file_size_bytes: Input should be greater than 0",
           "field": "file_size_bytes"}}
```

`code` is stable and machine-readable, `message` is for people, and `field` names the request
body field at fault (or is null). Any invalid input, including malformed JSON, a missing or
unknown field, a value out of range, or a webhook URL to a private host, is 400.
"""


def create_app(
    store: Store,
    signer: UploadSigner,
    settings: Settings,
    *,
    extra_routes: Iterable[APIRouter | BaseRoute] | None = None,
) -> FastAPI:
    """The API over `store`, handing out URLs made by `signer`; `extra_routes` are mounted as well."""
    app = FastAPI(title="pique-engine", version=_version(), description=API_DESCRIPTION, openapi_url="/openapi.json")
    app.state.store, app.state.signer, app.state.settings = store, signer, settings
    app.include_router(evaluations)
    app.include_router(operations)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    install_error_handlers(app, request_org)
    _install_openapi(app)
    for route in extra_routes or ():
        if isinstance(route, APIRouter):
            app.include_router(route)
        else:
            app.router.routes.append(route)
    return app


def _install_openapi(app: FastAPI) -> None:
    """The generated schema, minus FastAPI's 422 responses: invalid input is answered with 400."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = jsonable_encoder(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    try:
        return version("pique-engine")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without installing
        return "0"
