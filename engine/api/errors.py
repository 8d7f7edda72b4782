"""Every API error has one JSON shape (`ErrorBody`), whatever its status and wherever it arose::

    {"error": {"code": "invalid_request", "message": "filename: ...", "field": "filename"}}

`ApiError` is raised by routes; the handlers installed by `install_error_handlers` turn
FastAPI's and Starlette's own errors (validation, unknown routes and methods, bodies that
cannot be parsed), database errors and anything unexpected into the same shape. `BodyLimit`
refuses oversized bodies inside that shape too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StoreError
from .schemas import ErrorBody

__all__ = [
    "MAX_ECHO_CHARS",
    "ApiError",
    "BodyLimit",
    "clip",
    "error_responses",
    "install_error_handlers",
    "validation_error",
]

log = logging.getLogger(__name__)

# Ids, field names and paths are echoed back so the client sees what was refused; anything
# longer than a real id is the client's mistake (or an attack), and echoing 10 KB helps nobody.
MAX_ECHO_CHARS = 64


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` cut to its first `limit` characters and "…" when it is longer, for echoing in messages."""
    return text if len(text) <= limit else text[:limit] + "…"


class ApiError(Exception):
    """An error answered with `ErrorBody`; routes added through `extra_routes` may raise it too."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message, self.field = status_code, code, message, field

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message, "field": self.field}}
        return JSONResponse(body, status_code=self.status_code)


_DESCRIBED = {
    400: "The request is invalid: malformed JSON, a missing or unknown field, or a value out of range.",
    401: "The X-API-Key header is missing, or the key is unknown or revoked.",
    404: "Not found, or not accessible by your organisation.",
    500: "A server error, such as failing to create the upload URL; retrying later may succeed.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these error statuses, each with the error shape."""
    return {code: {"model": ErrorBody, "description": _DESCRIBED[code]} for code in codes}


class BodyLimit:
    """Refuse API request bodies over `max_bytes` with a 400, before they are read into memory.

    Raised from inside `receive`, the error reaches the app's handlers and keeps the JSON
    error shape (Starlette's own limit answers in plain text). Other routes, such as the dev
    server's uploads, are left alone.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> StarletteHTTPException:
        # An HTTPException is the one kind FastAPI lets out of its body reading unchanged.
        return StarletteHTTPException(400, f"the request body is larger than {self.max_bytes // 1024} KiB")


def install_error_handlers(app: FastAPI, authenticate: Callable[[Request], object]) -> None:
    """Answer every error of `app` with `ErrorBody`.

    `authenticate` raises `ApiError` for a request without a valid API key: FastAPI reads and
    validates the body before the route's dependencies run, so the handlers of body errors ask
    it first, and without a valid key nothing about the body is answered.
    """

    async def unauthenticated(request: Request) -> JSONResponse | None:
        if not request.url.path.startswith("/v1/"):
            return None
        try:
            await run_in_threadpool(authenticate, request)
        except ApiError as auth_error:
            return auth_error.response()
        return None

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        is_json = "json" in request.headers.get("content-type", "").lower()
        return await unauthenticated(request) or validation_error(exc.errors(), is_json).response()

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and (refused := await unauthenticated(request)):
            return refused
        return _http_error(request, exc)

    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, exc: StoreError) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return ApiError(500, "internal_error", "the database is unavailable; retry in a moment").response()

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs and re-raises after this response is sent.
        return ApiError(500, "internal_error", "internal server error; retry in a moment").response()


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
    path = clip(request.url.path)
    message = {
        404: f"no such endpoint: {request.method} {path}",
        405: f"{request.method} is not allowed on {path}",
    }.get(exc.status_code, str(exc.detail))
    if message == "There was an error parsing the body":  # FastAPI's words for e.g. JSON nested too deep
        message = "the request body could not be parsed as JSON"
    response = ApiError(exc.status_code, code.get(exc.status_code, "http_error"), message).response()
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def validation_error(errors: Any, is_json: bool = True) -> ApiError:
    """One `invalid_request` for the first of pydantic's errors, naming its field."""
    errors = list(errors) or [{"type": "missing", "loc": ("body",), "msg": "invalid request"}]
    first = errors[0]
    kind, loc = first.get("type", ""), tuple(first.get("loc", ()))
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = clip(".".join(str(part) for part in where)) or None
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed JSON")
        return ApiError(400, "invalid_request", f"the request body is not valid JSON ({reason})")
    if field is None:
        if not is_json:
            return ApiError(400, "invalid_request", "the request body must be JSON, sent with "
                            "Content-Type: application/json")  # fmt: skip
        if kind == "missing":
            return ApiError(400, "invalid_request", "the request body is missing; send a JSON object with "
                            "Content-Type: application/json")  # fmt: skip
        return ApiError(400, "invalid_request", "the request body must be a JSON object")
    if kind == "missing":
        message = f"{field} is required"
    elif kind == "extra_forbidden":
        message = f"{field} is not a field of this request; check its spelling"
    else:
        message = f"{field}: {str(first.get('msg', 'is invalid')).removeprefix('Value error, ')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(400, "invalid_request", message, field)
